// A mistake on the command line or in configuration: the CLI prints the message and exits 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgeError, isEdgeError, type ErrorCode } from '../errors.js';

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

/** Runs a parser of what the user typed: its error is their mistake, a UsageError (exit 2). */
export function asUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(isEdgeError(err) ? err.message : String(err));
  }
}

/** parseArgs options for flags that each take one string value. */
export function stringFlags<const K extends string>(...names: K[]): { [P in K]: { type: 'string' } } {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as { [P in K]: { type: 'string' } };
}

/** A parsed command, or undefined after printing `usage` when --help was asked (exit 0). */
export function unlessHelp<T>(cmd: T | 'help', usage: string): T | undefined {
  if (cmd !== 'help') return cmd;
  process.stdout.write(usage);
  return undefined;
}
