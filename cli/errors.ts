/** Errors the CLI reports as one line (`egress: <message>`) instead of a stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the user can act on (missing file, bad manifest, missing privilege). Exit status 1. */
export class UserError extends Error {
  override readonly name = 'UserError';
}
