// Authentication: who a connection is. publickey against authorized_keys (re-read each time;
// expiry-time and from= decide which line may log in), user certificates
// (src/gateway/user-certificate-auth.ts), optional passwords per user. The identity it sets
// on the connection is what forwarded ports and sockets belong to.
import { timingSafeEqual } from 'node:crypto';
import type { AuthContext } from 'ssh2';
import type { EdgeError } from '../errors.js';
import { matchFrom, sha256Fingerprint, type AuthorizedKey, type AuthorizedKeysFile } from './authorized-keys.js';
import { dropConnection, type Conn, type GatewayCore } from './gateway-connection.js';
import { UserCertificateAuth, certificateAsAuthorizedKey } from './user-certificate-auth.js';

export interface AuthenticatorOptions {
  /** Password logins per user name; none = password auth off. */
  allowPassword: { [user: string]: string } | undefined;
  /** Failed attempts before the connection is closed. */
  maxAuthAttempts: number;
  authorizedKeys: AuthorizedKeysFile;
  userCertificates: UserCertificateAuth | undefined;
}

export class Authenticator {
  private readonly authorizedKeys: AuthorizedKeysFile;
  private readonly userCertificates: UserCertificateAuth | undefined;

  constructor(private readonly core: GatewayCore, private readonly opts: AuthenticatorOptions) {
    this.authorizedKeys = opts.authorizedKeys;
    this.userCertificates = opts.userCertificates;
  }

  private authMethods(): Array<'publickey' | 'password'> {
    return this.opts.allowPassword && Object.keys(this.opts.allowPassword).length > 0 ? ['publickey', 'password'] : ['publickey'];
  }

  /** Answers one authentication request; on success conn.user, authMethod, key and identity are set before ctx.accept(). */
  async authenticate(conn: Conn, ctx: AuthContext): Promise<void> {
    // A connection being dropped (too many failures) answers nothing more.
    if (conn.closed || conn.endReason !== undefined) return;
    const user = ctx.username;
    switch (ctx.method) {
      case 'none':
        ctx.reject(this.authMethods()); // a query for the methods, not an attempt
        return;
      case 'password': {
        const expected = this.opts.allowPassword?.[user];
        if (expected === undefined) return this.authFailed(conn, ctx, `password authentication is not enabled for user "${user}"`);
        if (!safeEqual(ctx.password, expected)) return this.authFailed(conn, ctx, 'wrong password');
        conn.user = user;
        conn.authMethod = 'password';
        conn.key = undefined;
        conn.identity = { kind: 'password', user };
        ctx.accept();
        return;
      }
      case 'publickey': {
        if (this.userCertificates && UserCertificateAuth.offered(ctx.key.algo)) return this.authenticateCertificate(conn, ctx);
        let keys: AuthorizedKey[];
        try {
          keys = await this.authorizedKeys.load();
        } catch (err) {
          this.core.log('error', `gateway: ${(err as Error).message}`, { event: 'authorized-keys', code: (err as EdgeError).code });
          keys = [];
        }
        if (conn.closed || conn.endReason !== undefined) return;
        const fingerprint = sha256Fingerprint(ctx.key.data);
        const candidates = keys.filter((k) => k.blob.equals(ctx.key.data));
        if (candidates.length === 0) return this.authFailed(conn, ctx, `key ${ctx.key.algo} ${fingerprint} is not in authorized_keys`, fingerprint);
        if (ctx.key.algo === 'ssh-rsa' && ctx.hashAlgo === undefined) {
          return this.authFailed(conn, ctx, `key ${fingerprint}: ssh-rsa (SHA-1) signatures are not accepted; the client must use rsa-sha2-256 or rsa-sha2-512`, fingerprint);
        }
        // Like sshd, the first line with this key whose restrictions allow the login wins.
        const now = Date.now();
        let why = '';
        const match = candidates.find((k) => {
          if (k.options.expiryTime && k.options.expiryTime.getTime() <= now) {
            why ||= `key ${fingerprint} (authorized_keys line ${k.line}) expired at ${k.options.expiryTime.toISOString()} (expiry-time)`;
            return false;
          }
          if (k.options.from !== undefined && !matchFrom(conn.remoteAddress, k.options.from)) {
            why ||= `key ${fingerprint} (authorized_keys line ${k.line}) may not log in from ${conn.remoteAddress} (from="${k.options.from}")`;
            return false;
          }
          return true;
        });
        if (!match) return this.authFailed(conn, ctx, why, fingerprint);
        if (!ctx.signature || !ctx.blob) {
          ctx.accept(); // "this key would do": the client signs next (not a login yet)
          return;
        }
        if (!match.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
          return this.authFailed(conn, ctx, `key ${fingerprint}: the signature does not verify`, fingerprint);
        }
        conn.user = user;
        conn.authMethod = 'publickey';
        conn.key = match;
        conn.identity = { kind: 'key', fingerprint: match.fingerprint, keyType: match.keyType, comment: match.comment };
        ctx.accept();
        return;
      }
      default:
        return this.authFailed(conn, ctx, `authentication method ${ctx.method} is not supported`);
    }
  }

  private async authenticateCertificate(conn: Conn, ctx: AuthContext & { method: 'publickey' }): Promise<void> {
    const d = await this.userCertificates!.decide({
      username: ctx.username, keyAlgo: ctx.key.algo, keyBlob: ctx.key.data, signature: ctx.signature, signedData: ctx.blob, remoteAddress: conn.remoteAddress, nowMs: Date.now(),
    });
    if (conn.closed || conn.endReason !== undefined) return;
    if (!d.ok) return this.authFailed(conn, ctx, d.reason);
    if (!d.signed) return ctx.accept(); // "this certificate would do": the client signs next
    conn.user = ctx.username;
    conn.authMethod = 'publickey';
    conn.certificate = d.identity;
    conn.identity = d.identity; // ports belong to the CA + key id: a renewed certificate keeps them
    conn.key = certificateAsAuthorizedKey(d.cert, d.options);
    ctx.accept();
  }

  private authFailed(conn: Conn, ctx: AuthContext, reason: string, fingerprint?: string): void {
    conn.authFailures += 1;
    this.core.totals.authFailures += 1;
    this.core.refuse('auth', `authentication failed for user "${ctx.username}" from ${conn.remoteAddress}:${conn.remotePort} (attempt ${conn.authFailures} of ${this.opts.maxAuthAttempts}, ${ctx.method}): ${reason}`, {
      id: conn.id, user: ctx.username, remoteAddress: conn.remoteAddress, ...(fingerprint ? { fingerprint } : {}),
    }, 'info');
    ctx.reject(this.authMethods());
    if (conn.authFailures >= this.opts.maxAuthAttempts) {
      this.core.log('warn', `gateway: connection #${conn.id} from ${conn.remoteAddress}:${conn.remotePort} closed: too many authentication failures (${conn.authFailures}, maxAuthAttempts ${this.opts.maxAuthAttempts})`, {
        event: 'auth-max-attempts', id: conn.id, user: ctx.username, remoteAddress: conn.remoteAddress,
      });
      dropConnection(conn, `too many authentication failures (${conn.authFailures})`);
    }
  }
}

function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Compare equal-length buffers always, so the time does not reveal the expected length.
  const padded = Buffer.alloc(b.length);
  a.copy(padded, 0, 0, Math.min(a.length, b.length));
  return timingSafeEqual(padded, b) && a.length === b.length;
}
