import { type ErrorCode, isAbortError, VsnapError } from "@vsnap/core";
import { type GrpcError, GrpcStatus } from "./grpc/status.js";

export const COMPACTED_MESSAGE = "required revision has been compacted";

function isServiceError(error: unknown): error is GrpcError {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "number" &&
    "details" in error
  );
}

const TLS_HINTS = /certificate|ssl|tls|handshake|alert|self.signed|unable to verify|wrong version number/i;
const CLIENT_CERT_REJECTED =
  /alert[a-z ]*: (bad certificate|unknown ca|certificate required|handshake failure|certificate unknown)/i;

/** OpenSSL prefixes its reason with codes and source paths; keep the reason. */
export function cleanDetails(details: string): string {
  const text = details.replace(/\s+/g, " ").trim();
  const alert = /\b(?:ssl\/tls|sslv3|tlsv1\d?) alert ([a-z ]+?)(?::|$)/i.exec(text);
  if (alert?.[1]) return `TLS alert from etcd: ${alert[1]}`;
  return text
    .replace(/^Error: /, "")
    .replace(/; if the root CA is installed locally.*$/, "")
    .trim();
}

/**
 * Maps a gRPC/etcd failure onto vsnap's error codes with a message that names the endpoint and
 * the operation, and a hint that says what to check. etcd's own messages ("etcdserver: ...") are
 * kept verbatim: they are what an operator searches for.
 */
export function etcdError(error: unknown, operation: string, endpoint: string): VsnapError {
  if (VsnapError.is(error)) return error;
  if (isAbortError(error)) return new VsnapError("ABORTED", `${operation} aborted`, { cause: error });
  if (!isServiceError(error)) return VsnapError.wrap(error, "INTERNAL", `${operation} (${endpoint})`);
  const details = cleanDetails(error.details || error.message);
  const at = `${operation} on etcd ${endpoint}`;
  const make = (code: ErrorCode, message: string, hint?: string) =>
    new VsnapError(code, message, { cause: error, ...(hint ? { hint } : {}) });

  if (details.includes(COMPACTED_MESSAGE)) {
    return make(
      "CONFLICT",
      `${at} failed: the snapshot's revision was compacted while it was being read (${details})`,
      "etcd compacted its history past the pinned revision mid-read; run the snapshot again (or pause auto-compaction while it runs)",
    );
  }
  if (
    /authentication failed|user name is empty|invalid auth token|auth: /.test(details) &&
    !/permission denied/.test(details)
  ) {
    return make(
      "UNAUTHENTICATED",
      `${at} failed: ${details}`,
      "this etcd requires authentication: pass its user name and password, or a client certificate whose CN is an etcd user",
    );
  }
  if (details.includes("future revision")) {
    return make(
      "CONFLICT",
      `${at} failed: ${details}`,
      "the endpoints disagree on the latest revision; retry",
    );
  }
  switch (error.code) {
    case GrpcStatus.CANCELLED:
      return make("ABORTED", `${operation} aborted`);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return make(
        "TIMEOUT",
        `${at} timed out (${details})`,
        "check that the endpoint is reachable and healthy, or raise the etcd timeout",
      );
    case GrpcStatus.UNAVAILABLE:
      if (CLIENT_CERT_REJECTED.test(details)) {
        return make(
          "UNAUTHENTICATED",
          `${at} failed: etcd rejected the client certificate (${details})`,
          "pass --etcd-cert/--etcd-key signed by a CA etcd trusts (vCluster: /data/pki/etcd/apiserver-etcd-client.crt and .key)",
        );
      }
      if (TLS_HINTS.test(details)) {
        return make(
          "UNAUTHENTICATED",
          `${at} failed: etcd's server certificate was not accepted (${details})`,
          "pass --etcd-cacert with the CA that signed etcd's certificate (vCluster: /data/pki/etcd/ca.crt), and use a host name or IP the certificate names",
        );
      }
      return make(
        "UNAVAILABLE",
        `${at} failed: etcd is unreachable (${details})`,
        "check the --etcd endpoints (scheme http/https, host, port) and that etcd is running",
      );
    case GrpcStatus.UNAUTHENTICATED:
      return make("UNAUTHENTICATED", `${at} failed: ${details}`, "check the etcd user name and password");
    case GrpcStatus.PERMISSION_DENIED:
      return make(
        "PERMISSION_DENIED",
        `${at} failed: ${details}`,
        "the etcd user needs read/write access to the whole keyspace (root for db snapshots)",
      );
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return make(
        "FAILED_PRECONDITION",
        `${at} failed: ${details}`,
        details.includes("space exceeded")
          ? "etcd's backend quota is full: compact and defragment it, or raise --quota-backend-bytes"
          : "a message exceeded a size limit; lower the batch size",
      );
    case GrpcStatus.INVALID_ARGUMENT:
      return make("INVALID_ARGUMENT", `${at} failed: ${details}`);
    case GrpcStatus.UNIMPLEMENTED:
      return make("UNSUPPORTED", `${at} failed: ${details}`, "this etcd does not serve the v3 gRPC API");
    case GrpcStatus.FAILED_PRECONDITION:
      return make("FAILED_PRECONDITION", `${at} failed: ${details}`);
    default:
      if (TLS_HINTS.test(details)) {
        return make(
          "UNAUTHENTICATED",
          `${at} failed: TLS error (${details})`,
          "check --etcd-cacert/--etcd-cert/--etcd-key",
        );
      }
      return make("UNAVAILABLE", `${at} failed: ${details}`);
  }
}

/** True for failures worth retrying on another member: the connection, not the request, failed. */
export function isTransportFailure(error: unknown): boolean {
  if (!isServiceError(error)) return false;
  if (error.code === GrpcStatus.UNAVAILABLE) return !TLS_HINTS.test(error.details);
  return false;
}

function detailsOf(error: unknown): string {
  if (isServiceError(error)) return error.details;
  return error instanceof Error ? error.message : "";
}

export function isInvalidAuthToken(error: unknown): boolean {
  return /invalid auth token/.test(detailsOf(error));
}

/** etcd's --max-txn-ops (default 128) was exceeded. */
export function isTooManyOps(error: unknown): boolean {
  return /too many operations in txn request/.test(detailsOf(error));
}

/** etcd's --max-request-bytes (default 1.5 MiB) was exceeded. */
export function isTooLarge(error: unknown): boolean {
  return /request is too large|larger than max/.test(detailsOf(error));
}
