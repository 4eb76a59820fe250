// The last good assignment document on disk (assignments.cacheFile), so a device that boots
// while the fleet endpoint is unreachable still holds its tunnels.
//
// The file is a small JSON envelope holding the document's exact bytes as served (so its
// signature can be checked again when it is read back), its revision, ETag and signature.
// Writes are atomic: a temp file in the same directory is written and fsynced, renamed over
// the old file, and the directory is fsynced, so a power cut leaves either the old or the new
// file, never a torn one. Reading never throws: a missing file is `missing`, anything else
// unusable is `invalid` with a reason.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const CACHE_FORMAT = 'ssh-edge-agent/assignment-cache/v1';

export interface CachedAssignment {
  format: typeof CACHE_FORMAT;
  /** ISO time it was written. */
  savedAt: string;
  revision: number;
  /** The endpoint's ETag for this document (sent as If-None-Match at boot), or null. */
  etag: string | null;
  /** The X-Edge-Signature header value it came with, or null. */
  signature: string | null;
  /** The document's bytes as served (UTF-8). */
  body: string;
}

export type CacheRead =
  | { status: 'ok'; entry: CachedAssignment }
  | { status: 'missing' }
  | { status: 'invalid'; reason: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads and checks the envelope (not the document inside: the controller validates that). */
export async function readAssignmentCache(file: string): Promise<CacheRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { status: 'missing' };
    return { status: 'invalid', reason: `cannot read it (${e.code ?? e.message})` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { status: 'invalid', reason: `not JSON (${(err as Error).message})` };
  }
  if (!isObj(data)) return { status: 'invalid', reason: 'not a JSON object' };
  if (data.format !== CACHE_FORMAT) return { status: 'invalid', reason: `unknown format ${JSON.stringify(String(data.format)).slice(0, 80)} (expected "${CACHE_FORMAT}")` };
  if (typeof data.body !== 'string') return { status: 'invalid', reason: '"body" is missing' };
  if (!Number.isSafeInteger(data.revision) || (data.revision as number) < 0) return { status: 'invalid', reason: '"revision" is missing or not a safe integer' };
  if (data.etag !== null && typeof data.etag !== 'string') return { status: 'invalid', reason: '"etag" must be a string or null' };
  if (data.signature !== null && typeof data.signature !== 'string') return { status: 'invalid', reason: '"signature" must be a string or null' };
  return {
    status: 'ok',
    entry: {
      format: CACHE_FORMAT,
      savedAt: typeof data.savedAt === 'string' ? data.savedAt : '',
      revision: data.revision as number,
      etag: data.etag as string | null,
      signature: data.signature as string | null,
      body: data.body,
    },
  };
}

/** Writes `entry` to `file` atomically (temp file, fsync, rename, fsync of the directory). Mode 0600. */
export async function writeAssignmentCache(file: string, entry: Omit<CachedAssignment, 'format' | 'savedAt'> & { savedAt?: string }): Promise<void> {
  const full: CachedAssignment = { format: CACHE_FORMAT, savedAt: entry.savedAt ?? new Date().toISOString(), revision: entry.revision, etag: entry.etag, signature: entry.signature, body: entry.body };
  const data = JSON.stringify(full, null, 2) + '\n';
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    /* some file systems / platforms cannot fsync a directory; the rename is still atomic */
  } finally {
    await dh?.close().catch(() => {});
  }
}
