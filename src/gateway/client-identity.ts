// Who a gateway connection is: the credential it proved, never the user name it typed.
//
// A forward's port belongs to an identity. Only a connection with the same identity may take a
// held port over (Gateway.requestForward, with a liveness probe first), and logs and /status name the holder by it.
//   key          publickey login: the key's SHA256 fingerprint (the authorized_keys comment is
//                for people reading logs; it does not take part in the comparison)
//   password     password login: the password belongs to one user name, so the name is the
//                credential here (and only here)
//   certificate  OpenSSH user certificate: owned by CA and key id, so a device keeps its ports
//                across renewed certificates (serial, key and validity may change)
import { describeCertificateLogin, type CertificateIdentity } from './user-certificate-auth.js';

export type ClientIdentity =
  | { kind: 'key'; fingerprint: string; keyType: string; comment: string }
  | { kind: 'password'; user: string }
  | CertificateIdentity;

/** Whether two identities are the same principal (and may take each other's ports over). */
export function sameIdentity(a: ClientIdentity, b: ClientIdentity): boolean {
  switch (a.kind) {
    case 'key': return b.kind === 'key' && a.fingerprint === b.fingerprint;
    case 'password': return b.kind === 'password' && a.user === b.user;
    case 'certificate': return b.kind === 'certificate' && a.ca === b.ca && a.keyId === b.keyId;
  }
}

/** For log lines: 'key SHA256:… ("device-7@fleet")' or 'password of user "x"'. */
export function describeIdentity(id: ClientIdentity): string {
  switch (id.kind) {
    case 'key': return `key ${id.fingerprint}${id.comment ? ` ("${id.comment}")` : ''}`;
    case 'password': return `password of user "${id.user}"`;
    case 'certificate': return describeCertificateLogin(id);
  }
}
