// The measurements: bulk transfers, HTTP load through wrk, channel opens, held connections.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.js';

const PAYLOAD = Buffer.alloc(1024 * 1024, 0x42);

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

function header(n: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeBigUInt64BE(BigInt(n));
  return h;
}

/** Client → tunnel → sink: seconds for `bytes` to arrive (acknowledged by the sink). */
export async function bulkUpload(port: number, bytes: number, timeoutMs: number): Promise<number> {
  const s = await connect(port);
  try {
    const t0 = performance.now();
    const acked = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`upload of ${bytes} bytes did not finish within ${timeoutMs} ms`)), timeoutMs);
      s.once('data', () => { clearTimeout(timer); resolve(); });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
      s.once('close', () => { clearTimeout(timer); reject(new Error('closed before the sink acknowledged')); });
    });
    s.write(header(bytes));
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, PAYLOAD.length);
      left -= n;
      if (!s.write(n === PAYLOAD.length ? PAYLOAD : PAYLOAD.subarray(0, n))) {
        await new Promise<void>((resolve, reject) => {
          const onDrain = () => { s.off('close', onClose); resolve(); };
          const onClose = () => { s.off('drain', onDrain); reject(new Error('closed during upload')); };
          s.once('drain', onDrain);
          s.once('close', onClose);
        });
      }
    }
    await acked;
    return (performance.now() - t0) / 1000;
  } finally {
    s.destroy();
  }
}

/** Source → tunnel → client: seconds until `bytes` arrived. */
export async function bulkDownload(port: number, bytes: number, timeoutMs: number): Promise<number> {
  const s = await connect(port);
  try {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let got = 0;
      const timer = setTimeout(() => reject(new Error(`download of ${bytes} bytes: ${got} after ${timeoutMs} ms`)), timeoutMs);
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= bytes) { clearTimeout(timer); resolve(); }
      });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
      s.once('close', () => { clearTimeout(timer); if (got < bytes) reject(new Error(`closed after ${got} of ${bytes} bytes`)); });
      s.write(header(bytes));
    });
    return (performance.now() - t0) / 1000;
  } finally {
    s.destroy();
  }
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  errors: number;
  non2xx: number;
}

const WRK_SCRIPT = fileURLToPath(new URL('../wrk-report.lua', import.meta.url));

/** wrk against http://127.0.0.1:PORT/ (keep-alive, or a new connection per request). */
export function runWrk(port: number, connections: number, seconds: number, newConnection = false): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT,
    ...(newConnection ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.once('error', reject);
    child.once('exit', () => {
      const line = /WRKJSON (\{.*\})/.exec(out)?.[1];
      if (!line) return reject(new Error(`wrk printed no result:\n${out}`));
      const r = JSON.parse(line) as { requests: number; duration_us: number; p50_us: number; p99_us: number; max_us: number; errors: Record<string, number>; non2xx: number };
      const seconds = r.duration_us / 1e6;
      // wrk counts a server close after a `Connection: close` answer as a read error on some
      // versions; those requests were answered, so only connect/write/timeout/status count here.
      const e = r.errors;
      resolve({
        requests: r.requests, seconds, rps: r.requests / seconds,
        p50ms: r.p50_us / 1000, p99ms: r.p99_us / 1000, maxms: r.max_us / 1000,
        errors: (e.connect ?? 0) + (e.write ?? 0) + (e.timeout ?? 0) + (newConnection ? 0 : e.read ?? 0),
        non2xx: r.non2xx,
      });
    });
  });
}

/** Channels opened per second: `concurrency` loops of connect → 1 byte → echo → close. */
export async function channelOpens(port: number, seconds: number, concurrency = 16): Promise<{ opens: number; rate: number; errors: number }> {
  let opens = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      try {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
          const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, 10_000);
          s.once('connect', () => s.write('x'));
          s.once('data', () => { clearTimeout(timer); s.destroy(); resolve(); });
          s.once('error', (e) => { clearTimeout(timer); reject(e); });
          s.once('close', () => { clearTimeout(timer); reject(new Error('closed before the echo')); });
        });
        opens += 1;
      } catch {
        errors += 1;
        await sleep(5);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { opens, rate: opens / ((performance.now() - t0) / 1000), errors };
}

export interface Held {
  sockets: net.Socket[];
  opened: number;
  errors: number;
  openSeconds: number;
}

/** Opens `count` echo connections (`parallel` at a time), each answering one ping. */
export async function holdConnections(port: number, count: number, parallel = 50): Promise<Held> {
  const sockets: net.Socket[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      next += 1;
      try {
        const s = await connect(port);
        s.on('error', () => {});
        await ping(s, 'p');
        sockets.push(s);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { sockets, opened: sockets.length, errors, openSeconds: (performance.now() - t0) / 1000 };
}

function ping(s: net.Socket, byte: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error('no echo')); }, timeoutMs);
    const onData = () => { cleanup(); resolve(); };
    const onClose = () => { cleanup(); reject(new Error('closed')); };
    const cleanup = () => { clearTimeout(timer); s.off('data', onData); s.off('close', onClose); };
    s.on('data', onData);
    s.once('close', onClose);
    s.write(byte);
  });
}

/** Every held connection answers again; returns how many did. */
export async function pingAll(sockets: net.Socket[]): Promise<number> {
  const results = await Promise.allSettled(sockets.map((s) => ping(s, 'q')));
  return results.filter((r) => r.status === 'fulfilled').length;
}

export async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.end();
    setTimeout(() => { s.destroy(); resolve(); }, 5000).unref();
  })));
}
