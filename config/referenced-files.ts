// Every file a loaded config refers to (private keys, known_hosts, CA files), with the key that
// names it, and which of them cannot be read now. `edge-agent check` and `edge-agent run` report
// each unreadable one by key and path (exit 2) instead of "config OK" followed by a session
// that fails at connect time. Only readability is checked; contents are the session's business.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { fileErrorReason } from '../src/lifecycle/errno.js';
import { appendKey } from './json-schema.js';
import type { AgentConfig, SessionSpec } from './types.js';

export interface ReferencedFile {
  /** The config key naming the file, e.g. `credentials.default.privateKeyFile`. */
  key: string;
  path: string;
  /** A socket (an ssh-agent): must exist, is not read. */
  socket?: boolean;
}

/** The files of `sessions` (config or assignment document) that use them. */
export function sessionFiles(sessions: SessionSpec[], base = 'sessions'): ReferencedFile[] {
  const out: ReferencedFile[] = [];
  sessions.forEach((s, i) => {
    const known = s.hostKeys?.knownHostsFile;
    const list = known === undefined || known === '' ? [] : Array.isArray(known) ? known : [known];
    list.forEach((p, j) => out.push({ key: `${base}[${i}].hostKeys.knownHostsFile${Array.isArray(known) ? `[${j}]` : ''}`, path: p }));
    s.forwards.forEach((f, j) => {
      const ca = f.http?.caFile;
      if (ca) out.push({ key: `${base}[${i}].forwards[${j}].http.caFile`, path: ca });
    });
  });
  return out;
}

export function referencedFiles(config: AgentConfig): ReferencedFile[] {
  const out: ReferencedFile[] = [];
  for (const [name, cred] of Object.entries(config.credentials)) {
    const key = appendKey('credentials', name);
    if (cred.privateKeyFile) out.push({ key: `${key}.privateKeyFile`, path: cred.privateKeyFile });
    if (typeof cred.agent === 'string') out.push({ key: `${key}.agent`, path: cred.agent, socket: true });
  }
  out.push(...sessionFiles(config.sessions));
  if (config.assignments.caFile) out.push({ key: 'assignments.caFile', path: config.assignments.caFile });
  return out;
}

/** One message per file that cannot be read: `KEY: PATH: cannot read it (why)`. */
export function unreadableFiles(files: ReferencedFile[]): string[] {
  const problems: string[] = [];
  for (const f of files) {
    const why = f.socket ? socketProblem(f.path) : readProblem(f.path);
    if (why) problems.push(`${f.key}: ${f.path}: ${why}`);
  }
  return problems;
}

function readProblem(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    readSync(fd, Buffer.alloc(1), 0, 1, 0);
    return undefined;
  } catch (err) {
    return `cannot read it (${fileErrorReason(err)})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function socketProblem(path: string): string | undefined {
  try {
    return statSync(path).isSocket() ? undefined : 'is not a socket (expected an ssh-agent socket)';
  } catch (err) {
    return `cannot use it (${fileErrorReason(err)})`;
  }
}
