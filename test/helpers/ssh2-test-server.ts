// An in-process SSH server (ssh2's Server) for faults OpenSSH cannot produce on demand, such
// as reporting a forwarded channel's address differently from how it was requested (ssh2
// issue #377). It authenticates one public key, honours tcpip-forward on loopback, and opens
// a forwarded-tcpip channel to the client for each connection, piping bytes both ways.
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { Server, utils, type Connection } from 'ssh2';
// ssh2's generator drops a leading zero byte in ~1/256 ed25519 keys; this one retries.
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { isCertificateType, parseCertificateBlob, verifyCertificateSignature } from '../../src/certificates/openssh-certificate.js';
import { verifySshSignature } from '../../src/certificates/ssh-public-key.js';
import { enableHalfClose } from '../../src/ssh2/server-channel-half-close.js';

export interface TestServerOptions {
  /** Public key (OpenSSH line) allowed to log in. */
  authorizedKey: string;
  /**
   * A CA public key (OpenSSH line): user certificates it signed log in, checked strictly the way
   * sshd does (CA signature, and a signature blob named with the plain algorithm, e.g.
   * ssh-ed25519 or rsa-sha2-512, as PROTOCOL.certkeys requires).
   */
  userCertificateCa?: string;
  /**
   * A password accepted by the methods in `passwordMethods` (default: none), so that password
   * and keyboard-interactive authentication can be tested; only those methods are then offered.
   */
  password?: string;
  passwordMethods?: Array<'password' | 'keyboard-interactive'>;
  /** Rewrites the address reported in forwarded-tcpip opens (e.g. 'localhost' → '127.0.0.1'). */
  reportAddress?: (requested: string) => string;
}

export interface TestServer {
  port: number;
  /** SHA256:… fingerprint of the server's host key, for pinning. */
  fingerprint: string;
  connections: number;
  /** Public key algorithms of signed publickey requests, in order (e.g. rsa-sha2-512-cert-v01@openssh.com). */
  signedAlgorithms: string[];
  /** Signature algorithms named inside those requests' signature blobs (certificate logins). */
  signatureAlgorithms: string[];
  close(): Promise<void>;
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const hostKey = generateEd25519();
  const hostPublic = utils.parseKey(hostKey.public);
  if (hostPublic instanceof Error) throw hostPublic;
  const fingerprint = 'SHA256:' + createHash('sha256').update(hostPublic.getPublicSSH()).digest('base64').replace(/=+$/, '');
  const allowed = utils.parseKey(opts.authorizedKey);
  if (allowed instanceof Error) throw allowed;
  const listeners = new Set<net.Server>();
  const clients = new Set<Connection>();
  let connections = 0;
  const signedAlgorithms: string[] = [];
  const signatureAlgorithms: string[] = [];
  const caBlob = opts.userCertificateCa ? Buffer.from(opts.userCertificateCa.trim().split(/\s+/)[1]!, 'base64') : undefined;

  const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    connections += 1;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => {});
    const offered: Array<'publickey' | 'password' | 'keyboard-interactive'> = opts.password ? [...(opts.passwordMethods ?? ['password'])] : ['publickey'];
    client.on('authentication', (ctx) => {
      if (!offered.includes(ctx.method as never)) return ctx.reject(offered);
      if (ctx.method === 'password') return ctx.password === opts.password ? ctx.accept() : ctx.reject(offered);
      if (ctx.method === 'keyboard-interactive') {
        return ctx.prompt([{ prompt: 'Password: ', echo: false }], 'login', (answers) => (answers[0] === opts.password ? ctx.accept() : ctx.reject(offered)));
      }
      if (ctx.method !== 'publickey') return ctx.reject(offered);
      if (ctx.signature) signedAlgorithms.push(ctx.key.algo);
      if (caBlob && isCertificateType(ctx.key.algo.replace(/^rsa-sha2-(256|512)-cert/, 'ssh-rsa-cert'))) {
        try {
          const cert = parseCertificateBlob(ctx.key.data);
          verifyCertificateSignature(cert);
          if (!cert.caKeyBlob.equals(caBlob) || cert.kind !== 'user') return ctx.reject(['publickey']);
          if (!ctx.signature || !ctx.blob) return ctx.accept();
          signatureAlgorithms.push(verifySshSignature(cert.publicKey, ctx.blob, ctx.signature));
          return ctx.accept();
        } catch {
          return ctx.reject(['publickey']);
        }
      }
      const blob = allowed.getPublicSSH();
      const sameKey = ctx.key.data.length === blob.length && timingSafeEqual(ctx.key.data, blob);
      if (!sameKey) return ctx.reject(['publickey']);
      if (ctx.signature && ctx.blob && !allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.reject(['publickey']);
      ctx.accept();
    });
    client.on('ready', () => {
      const own = new Map<string, net.Server>();
      client.on('close', () => { for (const l of own.values()) { l.close(); listeners.delete(l); } });
      client.on('request', (accept, reject, name, info) => {
        const { bindAddr, bindPort } = info as { bindAddr: string; bindPort: number };
        if (name === 'cancel-tcpip-forward') {
          const l = own.get(`${bindAddr}:${bindPort}`);
          if (!l) return reject?.();
          l.close();
          own.delete(`${bindAddr}:${bindPort}`);
          return accept?.();
        }
        if (name !== 'tcpip-forward') return reject?.();
        const listener = net.createServer({ allowHalfOpen: true }, (sock) => {
          const reported = opts.reportAddress ? opts.reportAddress(bindAddr) : bindAddr;
          client.forwardOut(reported, actual, sock.remoteAddress ?? '127.0.0.1', sock.remotePort ?? 0, (err, channel) => {
            if (err) return sock.destroy();
            // As sshd does: the client's FIN becomes an EOF only, not EOF + CLOSE (ssh2's
            // server-side default), so the target's answer still on its way comes back.
            enableHalfClose(channel);
            sock.pipe(channel).pipe(sock);
            sock.on('error', () => channel.close());
            channel.on('close', () => sock.destroy());
          });
        });
        let actual = 0;
        listener.on('error', () => reject?.());
        listener.listen(bindPort, '127.0.0.1', () => {
          actual = (listener.address() as net.AddressInfo).port;
          listeners.add(listener);
          own.set(`${bindAddr}:${actual}`, listener);
          accept?.(actual);
        });
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    fingerprint,
    get connections() { return connections; },
    signedAlgorithms,
    signatureAlgorithms,
    close: async () => {
      for (const l of listeners) l.close();
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
