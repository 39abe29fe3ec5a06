/**
 * The two ways a command ends without doing its work, told apart by the exit
 * status: the operator typed something wrong (2), or the work could not be done (1).
 */

/** A bad argument: unknown command or option, a missing, extra or invalid value (exit 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The arguments were fine, the work was refused: an unknown phone, a phone already registered (exit 1). */
export class CommandFailure extends Error {
  override name = "CommandFailure";
}
