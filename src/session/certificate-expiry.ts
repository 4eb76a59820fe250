// The "certificate expires soon" warning of a connected session: logged once the user
// certificate the session logged in with nears its valid-before (user-certificate.ts says when),
// at once if that time has passed. Renewing means replacing the file: it is read again at every
// reconnect (credentials.ts).
import type { AuthIdentity } from './auth.js';
import { expiryWarningAt, type AuthKey } from './user-certificate.js';

export class CertificateExpiryWarning {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sessionId: string, private readonly warn: (message: string, fields: Record<string, unknown>) => void) {}

  /** A connection logged in with `auth` using one of `keys`: warn now, or when the time comes. */
  watch(keys: AuthKey[], auth: AuthIdentity | null): void {
    this.stop();
    const used = auth?.certificate ? keys.find((k) => k.certificate?.summary === auth.certificate)?.certificate : undefined;
    if (!used) return;
    const warnAt = expiryWarningAt(used.cert);
    if (warnAt === null) return;
    const warn = () => this.warn(`session ${this.sessionId}: certificate ${used.file} ("${used.summary.keyId}", serial ${used.summary.serial}) expires at ${used.summary.validBefore}; renew it (the file is read again at every reconnect).`, { validBefore: used.summary.validBefore });
    const inMs = warnAt - Date.now();
    if (inMs <= 0) warn();
    else this.timer = setTimeout(warn, Math.min(inMs, 2 ** 31 - 1)).unref();
  }

  /** The connection ended (or the session): no warning. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
