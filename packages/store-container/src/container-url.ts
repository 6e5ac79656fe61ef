import path from "node:path";
import { type PluginParseResult, type UrlParts, VsnapError } from "@vsnap/core";

export const CONTAINER_SCHEME = "container";
export const CONTAINER_FORMAT = "container:///ABS/PATH/FILE.tar.gz";
/** The suffix every snapshot file carries; list shows only these and delete removes only these. */
export const SNAPSHOT_SUFFIX = ".tar.gz";

export interface ContainerOptions {
  /** The absolute directory that holds the snapshot files. */
  readonly root: string;
}

const invalid = (message: string, hint = `expected ${CONTAINER_FORMAT}`) =>
  new VsnapError("INVALID_URL", message, { hint });

/**
 * `container:///data/snap.tar.gz` -> root `/data`, key `snap.tar.gz`. A path ending in `/` names
 * the directory itself (key ""), which is what listing needs.
 */
export function parseContainerUrl({ url }: UrlParts): PluginParseResult<ContainerOptions> {
  if (url.host !== "") {
    throw invalid(
      `relative paths are not supported for container snapshots; use container:///ABSOLUTE/PATH (got host "${url.host}")`,
      `expected ${CONTAINER_FORMAT}, e.g. container:///data/my-snapshot.tar.gz (three slashes)`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw invalid("container snapshot URLs take no user name or password");
  }
  // `#` would silently cut the file name short: make the user escape it.
  if (url.hash !== "") throw invalid(`"#" in a container path must be written as %23`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    throw invalid(`malformed percent-encoding in container path "${url.pathname}"`);
  }
  if (decoded.includes("\0")) throw invalid("a container path cannot contain a NUL byte");
  const normalized = path.posix.normalize(decoded);
  if (!normalized.startsWith("/") || normalized === "/") {
    throw invalid("a container snapshot URL needs an absolute file path");
  }
  if (normalized.endsWith("/")) return { key: "", options: { root: normalized.slice(0, -1) } };
  return { key: path.posix.basename(normalized), options: { root: path.posix.dirname(normalized) } };
}

/** `container://` + the absolute path, percent-encoding only what would not survive URL parsing. */
export function containerUrl(absolutePath: string, directory = false): string {
  const encoded = absolutePath
    .split("/")
    .map((segment) => segment.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (c) => encodeURIComponent(c)))
    .join("/");
  return `${CONTAINER_SCHEME}://${encoded}${directory && !encoded.endsWith("/") ? "/" : ""}`;
}
