import { type ErrorCode, isAbortError, VsnapError } from "@vsnap/core";

export interface RegistryErrorDetail {
  readonly code: string;
  readonly message?: string;
}

/** The `{"errors":[{code,message}]}` body of the distribution spec, when the body is one. */
export function parseRegistryErrors(text: string): RegistryErrorDetail[] {
  try {
    const doc = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return doc.errors
      .filter((e): e is { code: string; message?: unknown } => typeof e?.code === "string")
      .map((e) => ({ code: e.code, ...(typeof e.message === "string" ? { message: e.message } : {}) }));
  } catch {
    return [];
  }
}

export function codeForStatus(status: number, registryCodes: readonly string[] = []): ErrorCode {
  if (registryCodes.includes("UNSUPPORTED") || status === 405 || status === 501) return "UNSUPPORTED";
  if (registryCodes.includes("DIGEST_INVALID") || registryCodes.includes("SIZE_INVALID")) return "INTEGRITY";
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403 || registryCodes.includes("DENIED")) return "PERMISSION_DENIED";
  if (status === 404) return "NOT_FOUND";
  if (status === 408 || status === 429 || status >= 500) return "UNAVAILABLE";
  if (status === 409) return "CONFLICT";
  return "INTERNAL";
}

/** A VsnapError for a registry response that was not what the protocol step needed. */
export function registryError(
  what: string,
  status: number,
  bodyText: string,
  hint?: string,
): VsnapError & { readonly status: number; readonly registryCodes: readonly string[] } {
  const details = parseRegistryErrors(bodyText);
  const codes = details.map((d) => d.code);
  const detail = details.length
    ? details.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join("; ")
    : bodyText.trim().slice(0, 200);
  const code = codeForStatus(status, codes);
  const error = new VsnapError(code, `${what}: HTTP ${status}${detail ? ` (${detail})` : ""}`, {
    hint: hint ?? defaultHint(code),
  });
  return Object.assign(error, { status, registryCodes: codes });
}

function defaultHint(code: ErrorCode): string | undefined {
  switch (code) {
    case "UNAUTHENTICATED":
      return "log in with docker login REGISTRY, or pass username=USER&password=BASE64 in the URL";
    case "PERMISSION_DENIED":
      return "the credentials are valid but may not access this repository; check the token's scopes";
    case "UNAVAILABLE":
      return "the registry is failing or rate-limiting; retry later";
    default:
      return undefined;
  }
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Maps a transport failure (no HTTP response) to UNAVAILABLE or ABORTED with a hint for the usual causes. */
export function transportError(error: unknown, what: string, signal?: AbortSignal): VsnapError {
  if (VsnapError.is(error)) return error;
  if (signal?.aborted || isAbortError(error)) return new VsnapError("ABORTED", `${what}: aborted`);
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  let hint = "check that the registry host and port are right and reachable";
  if (code && TLS_CODES.has(code)) {
    hint =
      "the registry's TLS certificate is not trusted: add ca-cert=BASE64_PEM (or insecure-skip-tls-verify=true)";
  } else if (/wrong version number|packet length too long|EPROTO/i.test(`${code} ${message}`)) {
    hint = "the registry seems to speak plain HTTP: add plain-http=true to the URL";
  } else if (code === "ECONNRESET") {
    hint = "the connection was cut; if the registry is plain HTTPS-only, remove plain-http=true";
  }
  return new VsnapError("UNAVAILABLE", `${what}: ${code ? `${code} ` : ""}${message}`, {
    cause: error,
    hint,
  });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
