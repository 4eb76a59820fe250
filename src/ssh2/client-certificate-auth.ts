// ssh2 hook: public key authentication with an OpenSSH user certificate (client side).
//
// ssh2 1.17 has no certificate support. Three things go wrong when a certificate is offered
// (docs/ssh2-patches.md, "Client user certificates"):
//   1. utils.parseKey() on a -cert.pub "succeeds" but returns the nonce as the key, so we build
//      the key ourselves (certificateKey(): the private key, presenting the certificate blob);
//   2. Protocol.authPK() writes the certificate algorithm name inside the signature blob, where
//      sshd expects the plain signature algorithm (ssh-ed25519, ecdsa-sha2-nistp256,
//      rsa-sha2-512), and does not convert an ECDSA signature for a certificate key type;
//   3. RSA certificates would be signed with SHA-1 (`ssh-rsa-cert-v01`), which sshd ≥ 8.8 refuses;
//      we use rsa-sha2-512-cert-v01 / rsa-sha2-256-cert-v01 as server-sig-algs allows.
// installClientCertificateAuth() replaces authPK on one connection's Protocol object (never the
// prototype) for certificate keys only; every other key goes to ssh2's own authPK. It also
// records the server's server-sig-algs (EXT_INFO), which ssh2 keeps private to its client.
// test/unit/ssh2-client-certificate-auth.test.ts runs it against a live ssh2 Server and fails
// when the ssh2 internals used here change.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Client, ParsedKey } from 'ssh2';
import type { OpenSshCertificate } from '../certificates/openssh-certificate.js';
import { sshString } from '../certificates/ssh-wire-reader.js';

const require = createRequire(import.meta.url);
const protocolUtils = require('ssh2/lib/protocol/utils.js') as {
  sendPacket(proto: unknown, packet: Buffer): void;
  convertSignature(signature: Buffer, keyType: string): Buffer | false;
};
const ProtocolClass = require('ssh2/lib/protocol/Protocol.js') as { prototype: { authPK: (...args: unknown[]) => void } };

/** sha256 (first 16 hex digits, whitespace-normalised) of the ssh2 1.17.0 authPK this hook was written against. */
export const KNOWN_AUTH_PK = '83d94200f9723f36';

export function functionFingerprint(fn: (...args: never[]) => unknown): string {
  return createHash('sha256').update(fn.toString().replace(/\s+/g, ' ')).digest('hex').slice(0, 16);
}

export function upstreamAuthPkFingerprint(): string {
  return functionFingerprint(ProtocolClass.prototype.authPK);
}

const USERAUTH_REQUEST = 50;
const CERT_KEY = Symbol('edge-agent.certificateKey');

interface CertificateKeyState {
  cert: OpenSshCertificate;
  /** Hash for RSA signatures, chosen in authPK from server-sig-algs before the key signs. */
  rsaHash: 'sha256' | 'sha512';
}

type CertificateKey = ParsedKey & { [CERT_KEY]: CertificateKeyState };

/**
 * A key ssh2 accepts as a ParsedKey (its prototype is the parsed private key) that presents
 * `cert` as its public key. Sign/verify stay those of the private key.
 */
export function certificateKey(privateKey: ParsedKey, cert: OpenSshCertificate): ParsedKey {
  const state: CertificateKeyState = { cert, rsaHash: 'sha512' };
  const key = Object.create(privateKey) as CertificateKey;
  Object.defineProperties(key, {
    type: { value: cert.certType, enumerable: true },
    comment: { value: `certificate ${cert.keyId}`, enumerable: true },
    getPublicSSH: { value: () => cert.blob },
    sign: {
      value: (data: Buffer, algo?: string) => privateKey.sign(data, algo ?? (cert.keyType === 'ssh-rsa' ? state.rsaHash : undefined)),
    },
    [CERT_KEY]: { value: state },
  });
  return key;
}

/** The hash an RSA certificate key signs with (chosen by authPK from server-sig-algs); for agents. */
export function certificateRsaHash(key: ParsedKey): 'sha256' | 'sha512' | undefined {
  return isCertificateKey(key) ? key[CERT_KEY].rsaHash : undefined;
}

/** The certificate a certificate key presents. */
export function certificateOf(key: ParsedKey): OpenSshCertificate | undefined {
  return isCertificateKey(key) ? key[CERT_KEY].cert : undefined;
}

export function isCertificateKey(key: unknown): key is CertificateKey {
  return typeof key === 'object' && key !== null && CERT_KEY in key;
}

/** The algorithm named in the request and the one named inside the signature (PROTOCOL.certkeys). */
export function certificateAlgorithms(cert: OpenSshCertificate, serverSigAlgs: string[] | null): { keyAlgo: string; sigAlgo: string; rsaHash?: 'sha256' | 'sha512' } {
  if (cert.keyType !== 'ssh-rsa') return { keyAlgo: cert.certType, sigAlgo: cert.keyType };
  // No server-sig-algs: every sshd that accepts certificates today takes rsa-sha2-512.
  const use256 = serverSigAlgs !== null && !serverSigAlgs.includes('rsa-sha2-512') && serverSigAlgs.includes('rsa-sha2-256');
  return use256
    ? { keyAlgo: 'rsa-sha2-256-cert-v01@openssh.com', sigAlgo: 'rsa-sha2-256', rsaHash: 'sha256' }
    : { keyAlgo: 'rsa-sha2-512-cert-v01@openssh.com', sigAlgo: 'rsa-sha2-512', rsaHash: 'sha512' };
}

interface ProtocolInternals {
  authPK: (username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown) => void;
  _handlers: Record<string, ((...args: unknown[]) => void) | undefined>;
  _kex: { sessionID: Buffer };
  _authsQueue: string[];
  _packetRW: { write: { alloc(len: number): Buffer; allocStart: number; finalize(packet: Buffer): Buffer } };
}

/**
 * Installs the hook on one client; call right after `client.connect()` (which creates the
 * Protocol). Throws when the internals it needs are not there (an ssh2 upgrade changed them).
 */
export function installClientCertificateAuth(client: Client): void {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto || typeof proto.authPK !== 'function' || typeof proto._handlers !== 'object' || !Array.isArray(proto._authsQueue) || !proto._packetRW?.write) {
    throw new Error('ssh2 internals changed: Protocol.authPK/_handlers/_authsQueue/_packetRW missing; see src/ssh2/client-certificate-auth.ts');
  }
  let serverSigAlgs: string[] | null = null;
  const onExtInfo = proto._handlers.EXT_INFO;
  proto._handlers.EXT_INFO = (p: unknown, exts: unknown) => {
    for (const ext of (exts as Array<{ name: string; algs?: string[] }>) ?? []) {
      if (ext.name === 'server-sig-algs' && Array.isArray(ext.algs)) serverSigAlgs = ext.algs;
    }
    onExtInfo?.(p, exts);
  };
  const upstream = proto.authPK;
  proto.authPK = function authPK(username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown) {
    if (!isCertificateKey(key)) return upstream.call(this, username, key, keyAlgo, cbSign);
    if (typeof keyAlgo === 'function') cbSign = keyAlgo;
    const state = key[CERT_KEY];
    const algos = certificateAlgorithms(state.cert, serverSigAlgs);
    if (algos.rsaHash) state.rsaHash = algos.rsaHash;
    sendCertificateAuth(proto, username, state.cert, algos, cbSign as SignCallback | undefined);
  };
}

type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;

function sendCertificateAuth(proto: ProtocolInternals, username: string, cert: OpenSshCertificate, algos: { keyAlgo: string; sigAlgo: string }, cbSign?: SignCallback): void {
  // byte USERAUTH_REQUEST, string user, string service, string "publickey", bool, string algo, string certificate
  const request = (withSignature: boolean) => Buffer.concat([
    Buffer.from([USERAUTH_REQUEST]), sshString(username), sshString('ssh-connection'), sshString('publickey'),
    Buffer.from([withSignature ? 1 : 0]), sshString(algos.keyAlgo), sshString(cert.blob),
  ]);
  const send = (payload: Buffer) => {
    const packet = proto._packetRW.write.alloc(payload.length);
    packet.set(payload, proto._packetRW.write.allocStart);
    proto._authsQueue.push('publickey');
    protocolUtils.sendPacket(proto, proto._packetRW.write.finalize(packet));
  };
  if (!cbSign) return send(request(false));
  const signed = request(true);
  cbSign(Buffer.concat([sshString(proto._kex.sessionID), signed]), (raw) => {
    // ECDSA signatures come from OpenSSL as DER; the wire wants mpint r, s (keyed by the plain type).
    const signature = protocolUtils.convertSignature(raw, cert.keyType);
    if (signature === false) throw new Error('Error while converting handshake signature');
    send(Buffer.concat([signed, sshString(Buffer.concat([sshString(algos.sigAlgo), sshString(signature)]))]));
  });
}
