import { VsnapError } from "./errors.js";
import { decodeParams } from "./params.js";
import { registerSecretValue } from "./secret.js";
import type { ParsedLocation, StorePlugin } from "./store.js";

/** The scheme of a snapshot URL, lower-cased, or an INVALID_URL error. */
export function schemeOf(raw: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(raw);
  if (!match?.[1]) {
    throw new VsnapError("INVALID_URL", `"${maskUserinfo(raw)}" is not a snapshot URL`, {
      hint: "expected SCHEME://LOCATION, e.g. container:///data/snap.tar.gz, s3://BUCKET/KEY or oci://REGISTRY/REPO:TAG",
    });
  }
  return match[1].toLowerCase();
}

/**
 * Parses a snapshot URL with the plugin that owns its scheme. Core checks and decodes the query
 * (so no plugin can forget to reject an unknown option or to wrap a secret), then the plugin
 * validates the rest. Display and public forms are built here for the same reason.
 */
export function parseWithPlugin<O>(raw: string, plugin: StorePlugin<O>): ParsedLocation<O> {
  const scheme = schemeOf(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new VsnapError("INVALID_URL", `cannot parse "${maskUserinfo(raw)}" as a URL`, {
      hint: `expected ${plugin.format}`,
    });
  }
  const params = decodeParams(url.searchParams, plugin.params, plugin.format);
  if (url.password) registerSecretValue(decodeURIComponent(url.password));
  const { key, options } = plugin.parse({ url, scheme, params });
  return {
    scheme,
    plugin: plugin.name,
    key,
    options,
    display: renderUrl(url, plugin, "mask"),
    publicUrl: renderUrl(url, plugin, "drop"),
  };
}

function renderUrl(url: URL, plugin: StorePlugin<unknown>, mode: "mask" | "drop"): string {
  const copy = new URL(url.href);
  if (copy.password) {
    if (mode === "mask") copy.password = "***";
    else {
      copy.password = "";
      copy.username = "";
    }
  }
  const query = new URLSearchParams();
  for (const [name, value] of url.searchParams) {
    const secret = plugin.params[name]?.secret === true;
    if (!secret) query.append(name, value);
    else if (mode === "mask") query.append(name, "***");
  }
  copy.search = query.size ? `?${query.toString().replace(/%2A%2A%2A/g, "***")}` : "";
  return copy.href;
}

/** Hides `user:password@` in text shown before a URL could be parsed. */
export function maskUserinfo(raw: string): string {
  return raw.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/@]*)@/, (_m, s: string, info: string) =>
    info.includes(":") ? `${s}${info.slice(0, info.indexOf(":"))}:***@` : `${s}${info}@`,
  );
}
