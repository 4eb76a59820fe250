// ssh2 hook: present an OpenSSH host certificate (server side), for the built-in gateway's
// --host-certificate.
//
// ssh2 1.17's Server keys host keys by their type and signs the key exchange naming the
// signature with the negotiated algorithm; for a certificate the exchange hash must cover the
// certificate (K_S) while the signature is named with the plain algorithm (ssh-ed25519, …), and
// `*-cert-v01@openssh.com` is not in SUPPORTED_SERVER_HOST_KEY (docs/ssh2-patches.md,
// "Server host certificates"). installServerHostCertificate() works on one connection, from the
// Server's 'connection' event (after the client's version line, before our KEXINIT is sent):
//   - `Protocol._hostKeys[certType]` = the host private key presenting the certificate;
//   - `Protocol._offer` lists the certificate algorithm first;
//   - `Protocol._kex` becomes an accessor; for a key exchange that negotiated the certificate,
//     `finish` runs with the negotiated type reading as the plain signature algorithm.
// Only for the KeyExchange.finish whose fingerprint we checked (else the certificate is not
// offered at all). ed25519 and ECDSA host keys (RSA: the client-side rsa-sha2-*-cert naming
// needs more than this hook; a plain RSA host key still works).
// test/unit/ssh2-server-host-certificate.test.ts: a live ssh2 Server with the hook, checked by
// our client hook and by OpenSSH's ssh.
import { createRequire } from 'node:module';
import type { Connection, ParsedKey } from 'ssh2';
import { CERT_TYPE_SUFFIX, type OpenSshCertificate } from '../certificates/openssh-certificate.js';
import { HOST_CERTIFICATE_ALGORITHMS, KNOWN_KEX_FINISH, offerServerHostKeys, onKexInstalled, upstreamKexFinishFingerprint, type KexInitLike, type KexLike } from './client-host-certificates.js';

const require = createRequire(import.meta.url);
const { convertSignature } = require('ssh2/lib/protocol/utils.js') as { convertSignature(sig: Buffer, type: string): Buffer | false };

/** The host private key presenting `cert` (whose key must be this key). */
export function hostCertificateKey(privateKey: ParsedKey, cert: OpenSshCertificate): ParsedKey {
  if (!HOST_CERTIFICATE_ALGORITHMS[cert.keyType]) throw new Error(`${cert.keyType} host certificates are not supported (use an ed25519 or ECDSA host key)`);
  if (!cert.publicKey.blob.equals(privateKey.getPublicSSH())) throw new Error('the host certificate certifies another key than the host key');
  const key = Object.create(privateKey) as ParsedKey;
  Object.defineProperties(key, {
    type: { value: cert.certType, enumerable: true },
    getPublicSSH: { value: () => cert.blob },
    // ssh2 converts ECDSA signatures by the key's type, which is the certificate type here: do it ourselves.
    sign: { value: (data: Buffer, algo?: string) => { const s = privateKey.sign(data, algo); return s instanceof Error ? s : convertSignature(s, cert.keyType) || s; } },
  });
  return key;
}

/** Installs on one server-side connection; false (nothing changed) when ssh2's internals are not the known ones. */
export function installServerHostCertificate(connection: Connection, certKey: ParsedKey): boolean {
  const proto = (connection as unknown as { _protocol?: Record<string, unknown> })._protocol;
  const offer = proto?._offer as KexInitLike | undefined;
  const hostKeys = proto?._hostKeys as Record<string, unknown> | undefined;
  if (!proto || !offer?.lists?.serverHostKey?.array || !hostKeys || !('_kex' in proto) || proto._kex !== undefined) return false;
  const certType = certKey.type;
  hostKeys[certType] = certKey;
  offerServerHostKeys(proto, offer, [certType, ...offer.lists.serverHostKey.array]);
  onKexInstalled(proto, (k) => {
    if (k.negotiated?.serverHostKey !== certType) return;
    // Unknown upstream code: leave it; ssh2 then sends a signature the client refuses.
    if (upstreamKexFinishFingerprint(k) !== KNOWN_KEX_FINISH) return;
    const upstream = k.finish;
    k.finish = function finish(this: KexLike, ...args: unknown[]) {
      this.negotiated.serverHostKey = certType.slice(0, -CERT_TYPE_SUFFIX.length);
      try {
        return upstream.apply(this, args);
      } finally {
        this.negotiated.serverHostKey = certType;
      }
    };
  });
  return true;
}
