import path from "node:path";
import { type ParsedLocation, type PluginRegistry, schemeOf, VsnapError } from "@vsnap/core";
import { type OptionSpec, type OptionValues, stringOption } from "./command.js";

/**
 * The seed's S3 encryption flags. They are sugar for URL query options, so every code path
 * (local, cluster, controller) sees one thing: the URL. Encoded as the plugin declares them.
 */
export const STORE_FLAG_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "server-side-encryption": {
    type: "string",
    valueName: "AES256|aws:kms",
    description: "S3 server-side encryption",
  },
  "kms-key-id": { type: "string", valueName: "ID", description: "S3 SSE-KMS key id (implies aws:kms)" },
  "customer-key-encryption-file": {
    type: "string",
    valueName: "FILE",
    description: "S3 SSE-C: file holding the 32-byte key",
  },
};

const FLAG_TO_PARAM: Readonly<Record<string, string>> = {
  "server-side-encryption": "server-side-encryption",
  "kms-key-id": "kms-key-id",
  "customer-key-encryption-file": "custom-key-encryption-file",
};

/** Returns the URL with store flags folded into its query, checked against the plugin's params. */
export async function applyStoreFlags(
  raw: string,
  options: OptionValues,
  registry: PluginRegistry,
): Promise<string> {
  const given = Object.keys(FLAG_TO_PARAM).filter((flag) => stringOption(options, flag) !== undefined);
  if (given.length === 0) return raw;
  const plugin = await registry.plugin(schemeOf(raw));
  const url = new URL(raw);
  for (const flag of given) {
    const param = FLAG_TO_PARAM[flag]!;
    const spec = plugin.params[param];
    if (!spec) {
      throw new VsnapError("INVALID_ARGUMENT", `--${flag} does not apply to ${schemeOf(raw)}:// snapshots`, {
        hint: "it is an S3 option: use an s3:// URL",
      });
    }
    if (url.searchParams.has(param)) {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `--${flag} conflicts with "${param}" already in the URL; give it once`,
      );
    }
    // a key file is read where the store runs: make it independent of the working directory
    const value =
      flag === "customer-key-encryption-file"
        ? path.resolve(stringOption(options, flag)!)
        : stringOption(options, flag)!;
    url.searchParams.set(param, spec.type === "base64" ? Buffer.from(value).toString("base64") : value);
  }
  return url.href;
}

/** Parses and opens the store a URL points into, with flags folded in. */
export async function openUrl(
  raw: string,
  options: OptionValues,
  registry: PluginRegistry,
  env: Readonly<Record<string, string | undefined>>,
) {
  const url = await applyStoreFlags(raw, options, registry);
  return registry.open(url, { env });
}

export type { ParsedLocation };
