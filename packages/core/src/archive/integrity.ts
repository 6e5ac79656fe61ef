import { VsnapError } from "../errors.js";

const DAMAGED_HINT = "the archive is damaged or incomplete; use another snapshot, or re-create this one";

/** The error of every check an archive fails: VsnapError INTEGRITY saying what is wrong. */
export function integrityError(message: string, hint = DAMAGED_HINT): VsnapError {
  return new VsnapError("INTEGRITY", message, { hint });
}
