import { VsnapError } from "@vsnap/core";

export const OCI_FORMAT = "oci://REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]";
export const DEFAULT_TAG = "latest";

// distribution/reference's grammar
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** Where Docker Hub's registry API lives, and the key docker keeps its credentials under. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
export const DOCKER_HUB_CREDENTIAL_KEY = "https://index.docker.io/v1/";

export interface RepositoryRef {
  /** host[:port] as written (lower-cased), e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  readonly registry: string;
  /** e.g. `my-user/my-repo`; Docker Hub's one-part names gain `library/`. */
  readonly repository: string;
}

export interface ParsedReference extends RepositoryRef {
  /** The tag, or `@sha256:…` for a digest. */
  readonly key: string;
}

/** Splits `oci://HOST/REPO[:TAG|@DIGEST]` (already a parsed URL) into its parts, validating each. */
export function parseOciReference(url: URL): ParsedReference {
  const bad = (what: string, hint?: string) =>
    new VsnapError("INVALID_URL", `${what} (expected ${OCI_FORMAT})`, {
      hint: hint ?? "e.g. oci://ghcr.io/my-user/my-repo:my-tag",
    });
  if (!url.host) throw bad("the OCI URL has no registry host");
  if (url.hash) throw bad("the OCI URL must not have a #fragment");
  let path = url.pathname.replace(/^\/+/, "");
  if (!path) throw bad("unexpected format, need oci://my-registry.com/my-repo");
  let key = DEFAULT_TAG;
  const at = path.indexOf("@");
  if (at >= 0) {
    const digest = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST.test(digest))
      throw bad(`"${digest}" is not a valid digest`, "a digest is sha256: and 64 hex digits");
    key = `@${digest}`;
  } else {
    const colon = path.lastIndexOf(":");
    if (colon > path.lastIndexOf("/")) {
      key = path.slice(colon + 1);
      path = path.slice(0, colon);
      if (!isValidTag(key)) throw bad(`"${key}" is not a valid tag`, TAG_HINT);
    }
  }
  const registry = url.host.toLowerCase();
  let repository = path.replace(/\/+$/, "");
  if (!repository) throw bad("unexpected format, need oci://my-registry.com/my-repo");
  for (const part of repository.split("/")) {
    if (!COMPONENT.test(part)) {
      throw bad(
        `"${repository}" is not a valid repository name`,
        "repository names are lower-case letters, digits and . _ - separators, parts joined by /",
      );
    }
  }
  if (DOCKER_HUB_HOSTS.has(registry) && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, key };
}

export const TAG_HINT = "a tag is up to 128 letters, digits, _ . and -, not starting with . or -";

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isDigestKey(key: string): boolean {
  return key.startsWith("@") && DIGEST.test(key.slice(1));
}

/** The host the registry API is served from (Docker Hub's differs from the name users write). */
export function apiHostOf(registry: string): string {
  return DOCKER_HUB_HOSTS.has(registry) ? DOCKER_HUB_API_HOST : registry;
}

/** Loopback registries speak plain HTTP unless told otherwise, as docker and go-containerregistry assume. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return (
    host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host)
  );
}

/** `repo:tag` or `repo@sha256:…` for messages and ObjectInfo URLs. */
export function referenceString(ref: RepositoryRef, key: string): string {
  return `${ref.registry}/${ref.repository}${key.startsWith("@") ? key : `:${key}`}`;
}
