import { redact } from "./secret.js";

/**
 * Every failure vsnap reports carries one of these codes. The set is closed so that a CLI exit
 * code, a controller phase or a test can branch on it; plugins map their SDK errors onto it.
 */
export const ERROR_CODES = [
  "INVALID_URL",
  "INVALID_ARGUMENT",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "UNSUPPORTED",
  "ABORTED",
  "UNAVAILABLE",
  "TIMEOUT",
  "INTEGRITY",
  "CONFLICT",
  "FAILED_PRECONDITION",
  "PLUGIN",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// A marker shared through the global symbol registry: `VsnapError.is` must recognise errors
// thrown by another copy of @vsnap/core (a third-party plugin may bring its own).
const MARKER = Symbol.for("vsnap.dev/error");

export interface VsnapErrorOptions {
  cause?: unknown;
  /** A short, actionable next step shown under the message. */
  hint?: string;
}

/** The one error class of vsnap. Its message and hint are scrubbed of every registered secret. */
export class VsnapError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly [MARKER] = true;

  constructor(code: ErrorCode, message: string, options: VsnapErrorOptions = {}) {
    const cause = options.cause === undefined ? undefined : scrubCause(options.cause);
    super(redact(message), cause === undefined ? undefined : { cause });
    this.name = "VsnapError";
    this.code = code;
    this.hint = options.hint === undefined ? undefined : redact(options.hint);
    if (this.stack) this.stack = redact(this.stack);
  }

  static is(error: unknown, code?: ErrorCode): error is VsnapError {
    if (typeof error !== "object" || error === null || !(MARKER in error)) return false;
    return code === undefined || (error as { code?: unknown }).code === code;
  }

  /** Wraps any thrown value, keeping a VsnapError as it is and giving others `code`. */
  static wrap(error: unknown, code: ErrorCode, context?: string): VsnapError {
    if (VsnapError.is(error)) return error;
    if (isAbortError(error)) return new VsnapError("ABORTED", context ? `${context}: aborted` : "aborted");
    const detail = error instanceof Error ? error.message : String(error);
    return new VsnapError(code, context ? `${context}: ${detail}` : detail, { cause: error });
  }
}

export function isAbortError(error: unknown): boolean {
  if (VsnapError.is(error, "ABORTED")) return true;
  const name = (error as { name?: unknown } | null)?.name;
  const code = (error as { code?: unknown } | null)?.code;
  return name === "AbortError" || code === "ABORT_ERR";
}

/** Throws ABORTED when the signal has fired; call it between steps of long operations. */
export function throwIfAborted(signal: AbortSignal | undefined, what = "operation"): void {
  if (signal?.aborted) throw new VsnapError("ABORTED", `${what} aborted`, { cause: signal.reason });
}

// Causes are kept for debugging, but never with a secret in their message or stack.
function scrubCause(cause: unknown): unknown {
  if (VsnapError.is(cause)) return cause;
  if (cause instanceof Error) {
    const copy = new Error(redact(cause.message));
    copy.name = cause.name;
    copy.stack = cause.stack === undefined ? undefined : redact(cause.stack);
    const code = (cause as { code?: unknown }).code;
    if (code !== undefined) Object.assign(copy, { code });
    return copy;
  }
  return typeof cause === "string" ? redact(cause) : undefined;
}
