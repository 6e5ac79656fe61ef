import { type ErrorCode, isAbortError, VsnapError } from "@vsnap/core";

interface Mapping {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly hint?: string;
}

// errno -> vsnap code. Anything unlisted is INTERNAL: an honest "we did not expect this".
const ERRNO: Readonly<Record<string, Mapping>> = {
  ENOENT: { code: "NOT_FOUND", reason: "no such file or directory" },
  EACCES: {
    code: "PERMISSION_DENIED",
    reason: "permission denied",
    hint: "check the owner and mode of the file and its directory, or run as a user that may access them",
  },
  EPERM: {
    code: "PERMISSION_DENIED",
    reason: "operation not permitted",
    hint: "check the owner and mode of the file and its directory",
  },
  EROFS: {
    code: "PERMISSION_DENIED",
    reason: "read-only file system",
    hint: "mount the volume read-write, or choose a path on a writable volume",
  },
  ENOSPC: {
    code: "UNAVAILABLE",
    reason: "no space left on device",
    hint: "free space on the volume or use a larger one; the previous snapshot at this path is intact",
  },
  EDQUOT: {
    code: "UNAVAILABLE",
    reason: "disk quota exceeded",
    hint: "free space within the quota or raise it; the previous snapshot at this path is intact",
  },
  EIO: { code: "UNAVAILABLE", reason: "input/output error", hint: "check the disk or volume for faults" },
  EMFILE: { code: "UNAVAILABLE", reason: "too many open files", hint: "retry with fewer operations at once" },
  ENFILE: { code: "UNAVAILABLE", reason: "too many open files in the system" },
  EBUSY: { code: "UNAVAILABLE", reason: "resource busy" },
  EAGAIN: { code: "UNAVAILABLE", reason: "resource temporarily unavailable" },
  ESTALE: {
    code: "UNAVAILABLE",
    reason: "stale file handle",
    hint: "the network volume went away; remount it",
  },
  ENOTDIR: {
    code: "FAILED_PRECONDITION",
    reason: "a part of the path is a file, not a directory",
    hint: "choose a path whose parent folders are directories",
  },
  EISDIR: {
    code: "FAILED_PRECONDITION",
    reason: "is a directory",
    hint: "name a file, e.g. container:///data/my-snapshot.tar.gz",
  },
  ELOOP: { code: "FAILED_PRECONDITION", reason: "too many levels of symbolic links" },
  EEXIST: { code: "ALREADY_EXISTS", reason: "file exists" },
  ENAMETOOLONG: {
    code: "INVALID_ARGUMENT",
    reason: "file name too long",
    hint: "use a shorter snapshot name",
  },
  EXDEV: { code: "FAILED_PRECONDITION", reason: "cross-device rename" },
};

/** Turns a Node fs error into a VsnapError: `cannot write container:///x.tar.gz: permission denied (EACCES)`. */
export function fsError(error: unknown, action: string, target: string): VsnapError {
  if (VsnapError.is(error)) return error;
  if (isAbortError(error)) return new VsnapError("ABORTED", `${action} ${target}: aborted`);
  const errno = (error as { code?: unknown } | null)?.code;
  const mapping = typeof errno === "string" ? ERRNO[errno] : undefined;
  if (!mapping) return VsnapError.wrap(error, "INTERNAL", `${action} ${target}`);
  return new VsnapError(mapping.code, `${action} ${target}: ${mapping.reason} (${errno})`, {
    cause: error,
    hint: mapping.hint,
  });
}

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
