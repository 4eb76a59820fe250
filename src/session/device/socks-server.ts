// Runs the SOCKS handshake (socks-protocol.ts) on one accepted socket: method selection and
// optional username/password authentication for SOCKS5, then the CONNECT request (SOCKS4/4a/5).
// Resolves with the request, the bytes the client already sent after it, and how to answer;
// the caller checks the destination, opens the channel and then sends the success or failure
// reply. Rejects with SocksError (after writing the error reply, if the protocol has one).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  chooseSocks5Method, parseSocks4Request, parseSocks5Greeting, parseSocks5Request, parseSocks5UserPass,
  socks4Reply, socks5AuthReply, socks5MethodReply, socksVersion, SocksError, type SocksRequest,
} from './socks-protocol.js';

export interface SocksHandshakeOptions {
  /** Username/password the client must present (SOCKS5 only); absent = no authentication. */
  auth?: { username: string; password: string };
  /** The whole handshake must finish within this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface SocksHandshakeResult {
  request: SocksRequest;
  /** Bytes received after the request (a client that did not wait for the reply); to be replayed. */
  rest: Buffer;
  /** The SOCKS5 username the client authenticated with. */
  username?: string;
}

/** Largest handshake accepted (a SOCKS5 greeting + auth + request is at most ~1 KiB). */
const MAX_HANDSHAKE_BYTES = 4096;

export function socksHandshake(socket: Socket, opts: SocksHandshakeOptions): Promise<SocksHandshakeResult> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'start' | 'greeting' | 'auth' | 'request5' | 'request4' = 'start';
    let username: string | undefined;
    let settled = false;

    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: SocksError) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.pause();
      if (err.reply && socket.writable) socket.write(err.reply);
      reject(err);
    };
    const done = (request: SocksRequest, used: number) => {
      settled = true;
      cleanup();
      socket.pause();
      resolve({ request, rest: buf.subarray(used), ...(username !== undefined ? { username } : {}) });
    };
    const onEnd = () => fail(new SocksError('the client closed the connection during the SOCKS handshake', 'protocol'));
    const onAbort = () => fail(new SocksError('the forward was stopped during the SOCKS handshake', 'protocol'));
    const timer = setTimeout(() => fail(new SocksError(`the SOCKS handshake did not finish within ${opts.timeoutMs} ms`, 'protocol')), opts.timeoutMs);

    const step = (): void => {
      for (;;) {
        switch (stage) {
          case 'start': {
            const v = socksVersion(buf);
            if (v === null) return;
            if (v === 4) {
              if (opts.auth) {
                throw new SocksError('SOCKS4 has no password authentication and this forward requires a username and password (use SOCKS5)', 'auth', socks4Reply(false));
              }
              stage = 'request4';
            } else {
              stage = 'greeting';
            }
            break;
          }
          case 'greeting': {
            const g = parseSocks5Greeting(buf);
            if (!g) return;
            buf = buf.subarray(g.length);
            const method = chooseSocks5Method(g.value.methods, opts.auth !== undefined);
            socket.write(socks5MethodReply(method));
            if (method === null) {
              throw new SocksError(opts.auth
                ? 'the SOCKS5 client does not offer username/password authentication, which this forward requires'
                : 'the SOCKS5 client offers no method this forward accepts (it offers no "no authentication")', 'auth');
            }
            stage = method === 0x02 ? 'auth' : 'request5';
            break;
          }
          case 'auth': {
            const a = parseSocks5UserPass(buf);
            if (!a) return;
            buf = buf.subarray(a.length);
            const ok = sameSecret(a.value.username, opts.auth!.username) && sameSecret(a.value.password, opts.auth!.password);
            if (!ok) throw new SocksError('wrong SOCKS5 username or password', 'auth', socks5AuthReply(false));
            socket.write(socks5AuthReply(true));
            username = a.value.username;
            stage = 'request5';
            break;
          }
          case 'request5':
          case 'request4': {
            const r = stage === 'request5' ? parseSocks5Request(buf) : parseSocks4Request(buf);
            if (!r) return;
            return done(r.value, r.length);
          }
        }
      }
    };

    function onData(chunk: Buffer) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        if (buf.length > MAX_HANDSHAKE_BYTES) throw new SocksError(`SOCKS handshake larger than ${MAX_HANDSHAKE_BYTES} bytes`, 'protocol');
        step();
      } catch (err) {
        fail(err instanceof SocksError ? err : new SocksError(String(err), 'protocol'));
      }
    }

    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** Constant-time comparison of two secrets of any length. */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
