/**
 * Test helper: real TCP services on 127.0.0.1 (port 0) and client utilities for
 * pushing / reading bytes through a tunnel. Nothing here ever connects anywhere
 * but loopback (127.0.0.1 or ::1).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

export type LoopbackHost = '127.0.0.1' | '::1';

export interface TcpService {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Destroy every open connection and close the listener. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// internals

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function assertLoopback(host: string): asserts host is LoopbackHost {
  if (host !== '127.0.0.1' && host !== '::1') throw new Error(`tcp-services: refusing non-loopback host ${host}`);
}

async function listen(server: Server, host: LoopbackHost = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  return addr.port;
}

function tracked(server: Server, onConnection: (s: Socket) => void) {
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {
      /* peers (the agent) may reset; tests inspect results, not server errors */
    });
    onConnection(s);
  });
  return {
    sockets,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------------------
// deterministic pseudo-random bytes (AES-128-CTR keystream over zeros: fast, streamable)

export const DEFAULT_CHUNK = 64 * 1024;

/** Yields exactly `bytes` deterministic pseudo-random bytes, chunk by chunk (never all in memory). */
export function* pseudoRandomChunks(bytes: number, seed = 1, chunkSize = DEFAULT_CHUNK): Generator<Buffer> {
  const key = createHash('sha256').update(`tcp-services-seed:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(chunkSize);
  let left = bytes;
  while (left > 0) {
    const n = Math.min(chunkSize, left);
    yield cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

/** sha256 (hex) of `pseudoRandomChunks(bytes, seed)`. */
export function pseudoRandomSha256(bytes: number, seed = 1): string {
  const h = createHash('sha256');
  for (const c of pseudoRandomChunks(bytes, seed)) h.update(c);
  return h.digest('hex');
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Write with backpressure; resolves false if the socket died before everything was written. */
async function writeAll(sock: Socket, chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<boolean> {
  for await (const chunk of chunks) {
    if (sock.destroyed || sock.writableEnded) return false;
    if (!sock.write(chunk)) {
      const ok = await new Promise<boolean>((resolve) => {
        const done = (value: boolean) => () => {
          sock.off('drain', onDrain);
          sock.off('close', onClose);
          resolve(value);
        };
        const onDrain = done(true);
        const onClose = done(false);
        sock.once('drain', onDrain);
        sock.once('close', onClose);
      });
      if (!ok) return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// throttled reading

export interface ThrottleOptions {
  /** Read rate limit. */
  bytesPerSecond: number;
  /** Stop (and destroy the socket) after this many bytes. Default: read until EOF. */
  limit?: number;
}

/**
 * Consume `sock` at no more than `bytesPerSecond`, using pause()/resume() so the
 * kernel receive window fills and backpressure reaches the sender. Resolves with
 * the byte count and sha256 of what was read once EOF / close / `limit` is hit.
 */
export function readThrottled(sock: Socket, opts: ThrottleOptions): Promise<{ bytes: number; sha256: string; error?: Error }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let error: Error | undefined;
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      resolve({ bytes, sha256: hash.digest('hex'), ...(error ? { error } : {}) });
    };
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      if (opts.limit !== undefined && bytes + chunk.length >= opts.limit) {
        const take = chunk.subarray(0, opts.limit - bytes);
        hash.update(take);
        bytes += take.length;
        finish();
        sock.destroy();
        return;
      }
      hash.update(chunk);
      bytes += chunk.length;
      const allowedAt = started + (bytes / opts.bytesPerSecond) * 1000;
      const wait = allowedAt - Date.now();
      if (wait > 0) {
        sock.pause();
        timer = setTimeout(() => {
          timer = undefined;
          if (!done) sock.resume();
        }, wait);
      }
    });
    sock.on('end', finish);
    sock.on('error', (e) => {
      error = e;
      finish();
    });
    sock.on('close', finish);
  });
}

/**
 * Connect to 127.0.0.1:port (optionally send `send` first, then half-close) and read
 * at most `bytesPerSecond` until EOF or `limit` bytes. For slow-reader tests.
 */
export async function throttledRead(
  port: number,
  opts: ThrottleOptions & { host?: LoopbackHost; send?: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>; timeoutMs?: number },
): Promise<{ bytes: number; sha256: string; error?: Error; durationMs: number }> {
  const host = opts.host ?? '127.0.0.1';
  assertLoopback(host);
  const sock = connect({ host, port });
  await once(sock, 'connect');
  const started = Date.now();
  const reading = readThrottled(sock, opts);
  if (opts.send !== undefined) {
    void writeAll(sock, Buffer.isBuffer(opts.send) ? [opts.send] : opts.send).then((ok) => ok && sock.end());
  }
  const timeoutMs = opts.timeoutMs ?? 120_000;
  let t: NodeJS.Timeout | undefined;
  const res = await Promise.race([
    reading,
    new Promise<never>((_, rej) => {
      t = setTimeout(() => {
        sock.destroy();
        rej(new Error(`throttledRead: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(t));
  sock.destroy();
  return { ...res, durationMs: Date.now() - started };
}

// ---------------------------------------------------------------------------
// services

/** Echoes every byte back; half-close from the client is mirrored. */
export async function startEchoServer(): Promise<TcpService> {
  const server = createServer({ allowHalfOpen: true });
  const t = tracked(server, (s) => {
    s.pipe(s);
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return t.connections;
    },
    close: t.close,
  };
}

export interface SinkResult {
  bytes: number;
  sha256: string;
  /** true if the connection ended with a clean FIN, false if it errored/was reset. */
  clean: boolean;
}

export interface SinkServer extends TcpService {
  /** Finished connections, in completion order. */
  readonly results: SinkResult[];
  /** Bytes received so far across all connections (including unfinished ones). */
  readonly bytesReceived: number;
  /** Resolve once at least `count` connections have finished. */
  waitForResults(count: number, timeoutMs?: number): Promise<SinkResult[]>;
}

/**
 * Reads everything from each connection, computing sha256 + byte count per connection.
 * With `bytesPerSecond`, each connection is read slowly (a slow internal service).
 * Closes its side once the client ends.
 */
export async function startSinkServer(opts: { bytesPerSecond?: number } = {}): Promise<SinkServer> {
  const results: SinkResult[] = [];
  const waiters = new Set<() => void>();
  let bytesReceived = 0;
  const server = createServer();
  const push = (r: SinkResult) => {
    results.push(r);
    for (const w of waiters) w();
  };
  const t = tracked(server, (s) => {
    s.on('data', (c: Buffer) => {
      bytesReceived += c.length;
    });
    if (opts.bytesPerSecond) {
      void readThrottled(s, { bytesPerSecond: opts.bytesPerSecond }).then((r) => {
        push({ bytes: r.bytes, sha256: r.sha256, clean: !r.error });
        s.end();
      });
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    let finished = false;
    s.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    const finish = (clean: boolean) => {
      if (finished) return;
      finished = true;
      push({ bytes, sha256: hash.digest('hex'), clean });
    };
    s.on('end', () => finish(true));
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return t.connections;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    results,
    async waitForResults(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (results.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`sink: ${results.length}/${count} connections finished after ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const w = () => {
            waiters.delete(w);
            clearTimeout(timer);
            r();
          };
          const timer = setTimeout(w, left);
          waiters.add(w);
        });
      }
      return results.slice(0, count);
    },
    close: t.close,
  };
}

export interface SourceServer extends TcpService {
  /** Bytes each connection receives. */
  readonly bytes: number;
  /** sha256 (hex) of what each connection receives (computed lazily, streaming). */
  readonly expectedSha256: string;
  /** Connections that were sent every byte and ended cleanly. */
  readonly completed: number;
}

/**
 * Sends `bytes` deterministic pseudo-random bytes to every connection (generated chunk by
 * chunk, respecting backpressure), then ends. Anything the client sends is discarded.
 */
export async function startSourceServer(bytes: number, opts: { seed?: number } = {}): Promise<SourceServer> {
  const seed = opts.seed ?? 1;
  let completed = 0;
  let expected: string | undefined;
  // allowHalfOpen: a client that half-closes right away must still get every byte
  const server = createServer({ allowHalfOpen: true });
  const t = tracked(server, (s) => {
    s.resume(); // discard input
    void writeAll(s, pseudoRandomChunks(bytes, seed)).then((ok) => {
      if (ok) {
        s.end(() => {
          completed++;
        });
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    bytes,
    get expectedSha256() {
      return (expected ??= pseudoRandomSha256(bytes, seed));
    },
    get connections() {
      return t.connections;
    },
    get completed() {
      return completed;
    },
    close: t.close,
  };
}

// ---------------------------------------------------------------------------
// client utilities

/**
 * A currently free TCP port, for a listener a test starts later (or restarts on the same port),
 * or for a port where nothing must listen. It is drawn below the kernel's ephemeral range
 * (ip_local_port_range): a port-0 listener or an outgoing connection of a test running in
 * parallel can otherwise be handed the same port between this check and its use — that collision
 * once sent a fleet-sim storm into another test's forward.
 */
export async function freePort(host: LoopbackHost = '127.0.0.1'): Promise<number> {
  assertLoopback(host);
  const bind = async (port: number) => {
    const server = createServer();
    server.unref();
    server.listen(port, host);
    await once(server, 'listening');
    const addr = server.address();
    await new Promise<void>((r) => server.close(() => r()));
    if (!addr || typeof addr !== 'object') throw new Error('no address');
    return addr.port;
  };
  const [low] = ephemeralPortRange();
  if (low > 12_000) {
    for (let i = 0; i < 50; i++) {
      try {
        return await bind(10_000 + Math.floor(Math.random() * (low - 10_000)));
      } catch { /* in use: draw again */ }
    }
  }
  return bind(0);
}

function ephemeralPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch { /* not Linux */ }
  return [0, 0];
}

export interface CollectOptions {
  host?: LoopbackHost;
  /** Overall timeout (connect + send + read), ms. Default 30000. */
  timeoutMs?: number;
  /** Half-close (FIN) after sending. Default true. */
  end?: boolean;
  /** Keep the received bytes in `data` up to this many bytes (hash/count always cover everything). Default 1 MiB. */
  keepBytes?: number;
  /** Stop reading (and destroy) once this many bytes have arrived. */
  expectBytes?: number;
  /** Resolve with `error` set instead of rejecting on socket errors (e.g. ECONNRESET). Default false. */
  allowError?: boolean;
}

export interface CollectResult {
  /** Bytes read. */
  bytes: number;
  /** sha256 (hex) of everything read. */
  sha256: string;
  /** First `keepBytes` bytes read. */
  data: Buffer;
  /** Bytes written (may be less than offered if the peer died). */
  sent: number;
  /** How the read side finished. */
  closedBy: 'end' | 'error' | 'expectBytes';
  error?: Error;
  durationMs: number;
}

/**
 * Connect to 127.0.0.1:port, send `send` (a Buffer or (async) iterable of chunks) with
 * backpressure, half-close, and read until EOF. Returns byte count + sha256 of what was read.
 */
export async function connectAndCollect(
  port: number,
  send?: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>,
  opts: CollectOptions = {},
): Promise<CollectResult> {
  const host = opts.host ?? '127.0.0.1';
  assertLoopback(host);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const keepBytes = opts.keepBytes ?? 1024 * 1024;
  const started = Date.now();
  const sock = connect({ host, port, allowHalfOpen: true });
  const hash = createHash('sha256');
  const kept: Buffer[] = [];
  let keptLen = 0;
  let bytes = 0;
  let sent = 0;

  return new Promise<CollectResult>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      fail(new Error(`connectAndCollect(${port}): timed out after ${timeoutMs} ms (read ${bytes} bytes, sent ${sent})`), true);
    }, timeoutMs);
    const result = (closedBy: CollectResult['closedBy'], error?: Error): CollectResult => ({
      bytes,
      sha256: hash.digest('hex'),
      data: Buffer.concat(kept),
      sent,
      closedBy,
      ...(error ? { error } : {}),
      durationMs: Date.now() - started,
    });
    const ok = (closedBy: CollectResult['closedBy']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(result(closedBy));
    };
    const fail = (err: Error, isTimeout = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (opts.allowError && !isTimeout) resolve(result('error', err));
      else reject(err);
    };
    sock.on('data', (chunk: Buffer) => {
      if (opts.expectBytes !== undefined && bytes + chunk.length > opts.expectBytes) {
        chunk = chunk.subarray(0, opts.expectBytes - bytes);
      }
      hash.update(chunk);
      bytes += chunk.length;
      if (keptLen < keepBytes) {
        const piece = chunk.subarray(0, keepBytes - keptLen);
        kept.push(Buffer.from(piece));
        keptLen += piece.length;
      }
      if (opts.expectBytes !== undefined && bytes >= opts.expectBytes) ok('expectBytes');
    });
    sock.on('end', () => ok('end'));
    sock.on('error', (e) => fail(e));
    sock.on('close', () => {
      if (!done) fail(new Error(`connectAndCollect(${port}): socket closed without EOF`));
    });
    sock.once('connect', () => {
      const chunks: Iterable<Buffer> | AsyncIterable<Buffer> = send === undefined ? [] : Buffer.isBuffer(send) ? [send] : send;
      void (async () => {
        const counted = async function* () {
          for await (const c of chunks) {
            yield c;
            sent += c.length;
          }
        };
        const complete = await writeAll(sock, counted()).catch(() => false);
        if (complete && opts.end !== false && !sock.destroyed) sock.end();
      })();
    });
  });
}

// ---------------------------------------------------------------------------
// freezable proxy (network black hole simulation)

export interface FreezableProxy extends TcpService {
  readonly frozen: boolean;
  /** Stop forwarding in both directions and stop reading; sockets stay open (black hole). New connections are accepted and held. */
  freeze(): void;
  /** Resume forwarding (held connections are then connected upstream). */
  thaw(): void;
  /** Destroy all current connection pairs (abrupt reset), keep listening. */
  dropConnections(): void;
  /**
   * Reset only the client side of every current pair; the upstream connections stay open and
   * silent (never read, never closed until close()). Seen from the target, the client vanished
   * without a FIN — a dead link the target can only find out about by itself.
   */
  dropClientSide(): void;
}

/** TCP proxy 127.0.0.1:0 -> 127.0.0.1:targetPort with freeze()/thaw(). */
export async function startFreezableProxy(targetPort: number, opts: { targetHost?: LoopbackHost } = {}): Promise<FreezableProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  assertLoopback(targetHost);
  let frozen = false;
  type Pair = { client: Socket; upstream?: Socket; orphaned?: boolean; start(): void };
  const pairs = new Set<Pair>();

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const t = tracked(server, (client) => {
    const pair: Pair = {
      client,
      start() {
        if (pair.upstream || client.destroyed) return;
        const up = connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
        pair.upstream = up;
        t.sockets.add(up);
        const kill = () => {
          client.destroy();
          if (!pair.orphaned) up.destroy();
          pairs.delete(pair);
        };
        up.on('error', kill);
        client.on('error', kill);
        up.on('close', () => {
          t.sockets.delete(up);
          if (!client.destroyed) client.destroy();
          pairs.delete(pair);
        });
        client.on('close', () => {
          if (!pair.orphaned && !up.destroyed) up.destroy();
          pairs.delete(pair);
        });
        const forward = (from: Socket, to: Socket) => {
          from.on('data', (d: Buffer) => {
            if (!to.write(d)) from.pause();
          });
          to.on('drain', () => {
            if (!frozen) from.resume();
          });
          from.on('end', () => to.end());
        };
        forward(client, up);
        forward(up, client);
        up.pause();
        client.pause();
        up.once('connect', () => {
          if (!frozen) {
            client.resume();
            up.resume();
          }
        });
      },
    };
    pairs.add(pair);
    if (!frozen) pair.start();
  });
  const port = await listen(server);

  return {
    port,
    get connections() {
      return t.connections;
    },
    get frozen() {
      return frozen;
    },
    freeze() {
      frozen = true;
      for (const p of pairs) {
        p.client.pause();
        p.upstream?.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const p of pairs) {
        if (!p.upstream) p.start();
        else if (!p.upstream.connecting) {
          p.client.resume();
          p.upstream.resume();
        }
      }
    },
    dropConnections() {
      for (const p of pairs) {
        p.client.resetAndDestroy?.();
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
    },
    dropClientSide() {
      for (const p of pairs) {
        p.orphaned = true;
        if (p.upstream) {
          p.upstream.removeAllListeners('data');
          p.upstream.pause();
        }
        p.client.resetAndDestroy?.();
        p.client.destroy();
      }
      pairs.clear();
    },
    close: async () => {
      pairs.clear();
      await t.close();
    },
  };
}

export { sleep };

// ---------------------------------------------------------------------------
// throttled proxy (a slow uplink)

/**
 * TCP proxy 127.0.0.1:0 -> 127.0.0.1:targetPort that passes the client→target direction at
 * no more than `bytesPerSecond` per connection (a slow uplink from the device); the other
 * direction is unthrottled.
 */
export async function startThrottledProxy(targetPort: number, bytesPerSecond: number): Promise<TcpService> {
  const server = createServer({ allowHalfOpen: true });
  const t = tracked(server, (client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    // Pace the client's bytes: pause whenever we are ahead of the allowed rate. (The target
    // is loopback and fast, so its own backpressure is not a concern here.)
    const started = Date.now();
    let passed = 0;
    client.on('data', (chunk: Buffer) => {
      passed += chunk.length;
      upstream.write(chunk);
      const wait = started + (passed / bytesPerSecond) * 1000 - Date.now();
      if (wait > 0) {
        client.pause();
        setTimeout(() => client.resume(), wait);
      }
    });
    client.on('end', () => upstream.end());
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return t.connections;
    },
    close: t.close,
  };
}
