// Errors a user makes on the command line, and the exit code every error maps to.
// Cheap to import: the CLI loads this before knowing which command runs.
import { BlockvaultError, ErrorCodes } from '../errors.js';

/** A bad flag, value or argument: exit 2, with the command's usage line. */
export class UsageError extends BlockvaultError {
  /** e.g. "blockvault list [options]"; printed under the message. */
  readonly usage: string | undefined;
  constructor(message: string, opts: { hint?: string; usage?: string; details?: Record<string, unknown> } = {}) {
    super(ErrorCodes.badInput, message, { hint: opts.hint, details: opts.details });
    this.usage = opts.usage;
  }
}

/** The process exit code for an error: 2 bad input, 3 damaged data, 75 busy, 130 cancelled, 1 failed.
 *  One map for the library and the CLI (src/errors.ts). */
export { exitCodeFor as exitCodeOf } from '../errors.js';
