// A mistake on the command line or in configuration: the CLI prints the message and exits 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgeError, type ErrorCode } from '../errors.js';

export class UsageError extends EdgeError {
  constructor(message: string, code: ErrorCode = 'EDGE_ERR_INVALID_SPEC') {
    super(code, message, { retryable: false });
  }
}

/**
 * node:util parseArgs, strict, with its errors as UsageError (exit 2) and without Node's advice
 * about `--` that does not fit our commands.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T & { strict: true }>> {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, '.'));
  }
}
