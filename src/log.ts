// A small structured logger: JSON lines (for log shippers) or readable text, to stderr, with
// a level filter. Callers never pass secrets; messages are built from config keys and codes.
import { isoTime } from './iso-time.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export function isLogLevel(value: string): value is LogLevel {
  return value in RANK;
}

export function createLogger(options: { level?: LogLevel; format?: LogFormat; write?: (line: string) => void } = {}): Logger {
  const threshold = RANK[options.level ?? 'info'];
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  return (level, message, fields) => {
    if (RANK[level] > threshold) return;
    const time = isoTime();
    if (format === 'json') {
      write(JSON.stringify({ time, level, msg: message, ...fields }));
    } else {
      const code = fields && typeof fields.code === 'string' ? ` [${fields.code}]` : '';
      write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${code}`);
    }
  };
}
