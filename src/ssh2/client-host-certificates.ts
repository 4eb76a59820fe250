// ssh2 hook: accept OpenSSH host certificates (client side).
//
// ssh2 1.17 cannot take a host certificate (docs/ssh2-patches.md, "Client host certificates"):
//   1. `*-cert-v01@openssh.com` is not in SUPPORTED_SERVER_HOST_KEY, so it can never be offered;
//   2. the key exchange requires the signature type to equal the negotiated host key algorithm,
//      but a certificate's signature is named with the plain algorithm (ssh-ed25519, …);
//   3. it parses the host key blob as a plain key to verify the signature, which for a
//      certificate yields nothing usable.
// installClientHostCertificates() works on one connection's objects only:
//   - it replaces the connection's KEXINIT offer (`Protocol._offer`, read when the first KEXINIT
//     is sent, after connect() returns) with one that lists certificate algorithms first;
//   - it turns `Protocol._kex` into an accessor so that each new key exchange that negotiated a
//     certificate gets its `finish` wrapped: for the duration of ssh2's own finish(), the
//     negotiated type reads as the plain signature algorithm, and `_hostKey` reads as the
//     certificate blob the first time (the exchange hash covers K_S = the certificate) and as the
//     certified plain key afterwards (the signature is checked with it). ssh2 still computes
//     the exchange hash and verifies the signature itself.
// The certificate's own checks (CA, principals, validity) are the host verifier's job
// (src/session/host-keys/host-key-verifier.ts); ssh2 hands it the certificate blob.
// RSA host certificates: the blob is `ssh-rsa-cert-v01@openssh.com` while the negotiated name is
// `rsa-sha2-512-cert-v01@openssh.com`, which ssh2's KEXDH_REPLY check refuses; while the
// exchange's `parse` runs, the negotiated type reads as `ssh-rsa-cert-v01@openssh.com` (as it
// does `ssh-rsa` for plain rsa-sha2-* keys).
// test/unit/ssh2-client-host-certificates.test.ts fails when ssh2 changes what this relies on.
import { createRequire } from 'node:module';
import type { Client } from 'ssh2';
import { CERT_TYPE_SUFFIX, parseCertificateBlob } from '../certificates/openssh-certificate.js';
import { functionFingerprint } from './client-certificate-auth.js';

const require = createRequire(import.meta.url);
type KexInitList = { array: string[] };
export interface KexInitLike { lists: { kex: KexInitList; serverHostKey: KexInitList; cs: Record<'cipher' | 'mac' | 'compress' | 'lang', KexInitList>; sc: Record<'cipher' | 'mac' | 'compress' | 'lang', KexInitList> } }
const kexModule = require('ssh2/lib/protocol/kex.js') as {
  KexInit: new (obj: unknown) => KexInitLike;
  DEFAULT_KEXINIT_CLIENT: KexInitLike;
};

/** Host certificate algorithms we can verify, by the plain algorithm ssh2 already offers. */
export const HOST_CERTIFICATE_ALGORITHMS: Record<string, string> = {
  'ssh-ed25519': 'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'rsa-sha2-512': 'rsa-sha2-512-cert-v01@openssh.com',
  'rsa-sha2-256': 'rsa-sha2-256-cert-v01@openssh.com',
};

/** Fingerprint of the ssh2 1.17.0 KeyExchange.prototype.finish this hook was written against. */
export const KNOWN_KEX_FINISH = 'a73ee52c9239e54c';

/** The fingerprint of the last key exchange's finish seen (for the upgrade test). */
export let lastSeenKexFinish: string | undefined;

export interface KexLike {
  negotiated: { serverHostKey: string };
  finish: (...args: unknown[]) => unknown;
  parse?: (...args: unknown[]) => unknown;
  _hostKey: unknown;
}

/** The KeyExchange class's finish (shared by every kex method), for the upgrade guard. */
export function upstreamKexFinishFingerprint(kex: KexLike): string {
  let proto = Object.getPrototypeOf(kex) as object | null;
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'finish')) proto = Object.getPrototypeOf(proto) as object | null;
  return functionFingerprint((proto as { finish: (...args: never[]) => unknown }).finish);
}

/**
 * Call right after `client.connect()`. Offers host certificates first (as ssh does when a CA is
 * known for the host). Throws when the ssh2 internals it needs are missing.
 */
export function installClientHostCertificates(client: Client): void {
  const proto = (client as unknown as { _protocol?: Record<string, unknown> })._protocol;
  const offer = proto?._offer as KexInitLike | undefined;
  if (!proto || !offer?.lists?.serverHostKey?.array || !('_kex' in proto)) {
    throw new Error('ssh2 internals changed: Protocol._offer/_kex missing; see src/ssh2/client-host-certificates.ts');
  }
  const l = offer.lists;
  const plain = l.serverHostKey.array;
  const certs = plain.map((a) => HOST_CERTIFICATE_ALGORITHMS[a]).filter((a): a is string => a !== undefined);
  offerServerHostKeys(proto, offer, [...certs, ...plain]);
  onKexInstalled(proto, (k) => {
    lastSeenKexFinish = upstreamKexFinishFingerprint(k);
    // Unknown upstream code: leave it alone; ssh2 then refuses the certificate ("Wrong signature type").
    if (k.negotiated?.serverHostKey?.endsWith(CERT_TYPE_SUFFIX) && lastSeenKexFinish === KNOWN_KEX_FINISH) wrapFinish(k);
  });
}

/** Replaces a protocol's KEXINIT offer (`Protocol._offer`) by the same lists with other host key algorithms. */
export function offerServerHostKeys(proto: Record<string, unknown>, offer: KexInitLike, serverHostKey: string[]): void {
  const l = offer.lists;
  const pick = (side: 'cs' | 'sc') => ({ cipher: l[side].cipher.array, mac: l[side].mac.array, compress: l[side].compress.array, lang: l[side].lang.array });
  proto._offer = new kexModule.KexInit({ kex: l.kex.array, serverHostKey, cs: pick('cs'), sc: pick('sc') });
}

/** Calls `onKex` with every key exchange ssh2 installs on the protocol (`Protocol._kex`), before it runs. */
export function onKexInstalled(proto: Record<string, unknown>, onKex: (kex: KexLike) => void): void {
  let current: unknown = proto._kex;
  Object.defineProperty(proto, '_kex', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (kex: unknown) => {
      current = kex;
      const k = kex as KexLike | undefined;
      if (k && typeof k.finish === 'function') onKex(k);
    },
  });
}

function wrapFinish(kex: KexLike): void {
  const certAlgo = kex.negotiated.serverHostKey;
  const upstreamParse = kex.parse;
  if (/^rsa-sha2-(256|512)-cert-v01@openssh\.com$/.test(certAlgo) && typeof upstreamParse === 'function') {
    kex.parse = function parse(this: KexLike, ...args: unknown[]) {
      this.negotiated.serverHostKey = 'ssh-rsa-cert-v01@openssh.com';
      try {
        return upstreamParse.apply(this, args);
      } finally {
        this.negotiated.serverHostKey = certAlgo;
      }
    };
  }
  const sigAlgo = certAlgo.slice(0, -CERT_TYPE_SUFFIX.length);
  const upstream = kex.finish;
  kex.finish = function finish(this: KexLike, ...args: unknown[]) {
    const certBlob = this._hostKey;
    let plainBlob: Buffer;
    try {
      plainBlob = parseCertificateBlob(certBlob as Buffer).publicKey.blob;
    } catch {
      return upstream.apply(this, args); // ssh2 refuses it as malformed
    }
    let value: unknown = certBlob;
    let reads = 0;
    Object.defineProperty(this, '_hostKey', {
      configurable: true,
      get: () => (value === certBlob && reads++ > 0 ? plainBlob : value),
      set: (v: unknown) => { value = v; },
    });
    this.negotiated.serverHostKey = sigAlgo;
    try {
      return upstream.apply(this, args);
    } finally {
      this.negotiated.serverHostKey = certAlgo;
      Object.defineProperty(this, '_hostKey', { configurable: true, writable: true, enumerable: true, value });
    }
  };
}
