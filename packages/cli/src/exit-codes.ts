import type { ErrorCode } from "@vsnap/core";

/** Documented in the README: scripts branch on these. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  INTEGRITY: 4,
  AUTH: 5,
  UNAVAILABLE: 6,
  PRECONDITION: 7,
  UNSUPPORTED: 8,
  ABORTED: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "INVALID_URL":
    case "INVALID_ARGUMENT":
      return EXIT.USAGE;
    case "NOT_FOUND":
      return EXIT.NOT_FOUND;
    case "INTEGRITY":
      return EXIT.INTEGRITY;
    case "UNAUTHENTICATED":
    case "PERMISSION_DENIED":
      return EXIT.AUTH;
    case "UNAVAILABLE":
    case "TIMEOUT":
      return EXIT.UNAVAILABLE;
    case "FAILED_PRECONDITION":
    case "ALREADY_EXISTS":
    case "CONFLICT":
      return EXIT.PRECONDITION;
    case "UNSUPPORTED":
    case "PLUGIN":
      return EXIT.UNSUPPORTED;
    case "ABORTED":
      return EXIT.ABORTED;
    default:
      return EXIT.FAILURE;
  }
}
