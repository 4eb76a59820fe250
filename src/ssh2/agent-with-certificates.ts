// ssh2 replacement: an ssh-agent client that keeps certificates.
//
// ssh2 1.17's agent client (lib/agent.js) parses each identity the agent lists with
// parseKey(), which cannot parse certificate blobs, so certificates added with `ssh-add`
// (key + KEY-cert.pub) are silently dropped; it also only sets the rsa-sha2-256/512 sign flags
// for type `ssh-rsa`, so an RSA certificate would be signed with SHA-1. This class talks the
// agent protocol (draft-miller-ssh-agent: REQUEST_IDENTITIES, SIGN_REQUEST) itself and hands
// ssh2 keys through ssh2's public agent interface (a BaseAgent subclass, accepted wherever
// ssh2 takes `agent`): plain keys as ssh2 parses them, certificates as certificate keys that
// the authPK hook (client-certificate-auth.ts) sends correctly. One short connection per
// request; replies are bounded.
// test/integration/agent-certificates-ssh-agent.test.ts uses it against a real ssh-agent and sshd.
import net from 'node:net';
import type { ParsedKey } from 'ssh2';
import { parseKey, SshBaseAgent } from './client-modules.js';
import { isCertificateType, parseCertificateBlob, type OpenSshCertificate } from '../certificates/openssh-certificate.js';
import { sha256Fingerprint } from '../certificates/ssh-public-key.js';
import { sshString, SshWireReader } from '../certificates/ssh-wire-reader.js';
import { certificateKey, certificateRsaHash, isCertificateKey } from './client-certificate-auth.js';

const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
const RSA_SHA2_256 = 2;
const RSA_SHA2_512 = 4;
/** Largest agent reply we read (OpenSSH caps messages at 256 KiB). */
const MAX_REPLY = 256 * 1024;

export interface AgentKeyInfo {
  keyFingerprint: string;
  certificate: OpenSshCertificate | null;
}

type SignCallback = (err: Error | null, signature?: Buffer) => void;

export class CertificateAwareAgent extends SshBaseAgent {
  /** The key the agent last signed with (what the login used, once the server accepts). */
  lastSigned: AgentKeyInfo | null = null;
  private readonly info = new WeakMap<object, AgentKeyInfo>();

  constructor(private readonly socketPath: string, private readonly timeoutMs = 10_000) {
    super();
  }

  override getIdentities(cb: (err: Error | null, keys?: ParsedKey[]) => void): void {
    this.request(Buffer.from([REQUEST_IDENTITIES])).then((reply) => {
      if (reply[0] !== IDENTITIES_ANSWER) throw new Error(`ssh-agent answered ${reply[0]} to REQUEST_IDENTITIES`);
      const r = new SshWireReader(reply.subarray(1), 'agent identities');
      const count = r.uint32();
      const keys: ParsedKey[] = [];
      for (let i = 0; i < count; i++) {
        const blob = r.bytes();
        r.bytes(); // comment
        const key = this.toKey(blob);
        if (key) keys.push(key);
      }
      cb(null, keys);
    }).catch((err: Error) => cb(err));
  }

  override sign(pubKey: ParsedKey, data: Buffer, options: { hash?: string } | SignCallback, cb?: SignCallback): void {
    const done = (typeof options === 'function' ? options : cb) ?? (() => {});
    const opts = typeof options === 'object' && options !== null ? options : {};
    const info = this.info.get(pubKey);
    const baseType = info?.certificate?.keyType ?? pubKey.type;
    let flags = 0;
    if (baseType === 'ssh-rsa') {
      const hash = isCertificateKey(pubKey) ? certificateRsaHash(pubKey) : opts.hash;
      flags = hash === 'sha512' ? RSA_SHA2_512 : hash === 'sha256' ? RSA_SHA2_256 : 0;
    }
    const flagBuf = Buffer.alloc(4);
    flagBuf.writeUInt32BE(flags);
    const msg = Buffer.concat([Buffer.from([SIGN_REQUEST]), sshString(pubKey.getPublicSSH()), sshString(data), flagBuf]);
    this.request(msg).then((reply) => {
      if (reply[0] !== SIGN_RESPONSE) throw new Error('ssh-agent refused to sign');
      const outer = new SshWireReader(reply.subarray(1), 'agent signature');
      const sig = new SshWireReader(outer.bytes(), 'agent signature');
      sig.text(); // algorithm: we asked for it
      this.lastSigned = info ?? null;
      done(null, sig.bytes()); // ssh2 expects the bare signature, as its own agent returns it
    }).catch((err: Error) => done(err));
  }

  private toKey(blob: Buffer): ParsedKey | undefined {
    try {
      if (isCertificateType(new SshWireReader(blob, 'key').text())) {
        const cert = parseCertificateBlob(blob);
        const plain = parseKey(Buffer.concat([cert.publicKey.blob]));
        if (plain instanceof Error) return undefined;
        const key = certificateKey(Array.isArray(plain) ? plain[0]! : plain, cert);
        this.info.set(key, { keyFingerprint: cert.keyFingerprint, certificate: cert });
        return key;
      }
      const parsed = parseKey(blob);
      if (parsed instanceof Error) return undefined;
      const key = Array.isArray(parsed) ? parsed[0]! : parsed;
      this.info.set(key, { keyFingerprint: sha256Fingerprint(blob), certificate: null });
      return key;
    } catch {
      return undefined; // a key type we cannot use; ssh2 skips those too
    }
  }

  /** One request/response on a fresh connection to the agent. */
  private request(body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath);
      const chunks: Buffer[] = [];
      let got = 0;
      const fail = (err: Error) => { sock.destroy(); reject(err); };
      sock.setTimeout(this.timeoutMs, () => fail(new Error(`ssh-agent at ${this.socketPath} did not answer within ${this.timeoutMs} ms`)));
      sock.on('error', (err) => fail(new Error(`ssh-agent at ${this.socketPath}: ${err.message}`)));
      sock.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got < 4) return;
        const all = Buffer.concat(chunks);
        const len = all.readUInt32BE(0);
        if (len > MAX_REPLY) return fail(new Error(`ssh-agent reply of ${len} bytes is larger than ${MAX_REPLY}`));
        if (all.length < 4 + len) return;
        sock.end();
        resolve(all.subarray(4, 4 + len));
      });
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      sock.write(Buffer.concat([len, body]));
    });
  }
}
