// A mistake on the command line or in configuration: the CLI prints the message and exits 2.
import { EdgeError, type ErrorCode } from '../errors.js';

export class UsageError extends EdgeError {
  constructor(message: string, code: ErrorCode = 'EDGE_ERR_INVALID_SPEC') {
    super(code, message, { retryable: false });
  }
}
