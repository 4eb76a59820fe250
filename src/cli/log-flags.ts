// --log-level / --log-format: the same two flags, with the same checks, on every command that logs.
import { isLogLevel, type LogFormat, type LogLevel } from '../log.js';
import { UsageError } from './usage-error.js';

export const LOG_OPTIONS = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

export interface LogFlags {
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export function logFlags(values: { 'log-level'?: string; 'log-format'?: string }): LogFlags {
  const logLevel = values['log-level'] ?? 'info';
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be one of error, warn, info, debug (got "${logLevel}")`);
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`--log-format must be text or json (got "${logFormat}")`);
  return { logLevel, logFormat };
}
