// `edge-agent sign --key FILE DOCUMENT.json`: the fleet side of signed assignments. Prints the
// X-Edge-Signature header value (`ed25519=<base64>`) over the exact bytes of the document; the
// endpoint serves those bytes unchanged with that header. `--keygen` makes a key pair.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadSigningPrivateKey, signAssignmentBody, SIGNATURE_HEADER } from '../assignments/signature.js';
import { parseCommandArgs, UsageError } from './usage-error.js';

export const SIGN_USAGE = `Usage: edge-agent sign --key FILE [--passphrase-env NAME] [--header] DOCUMENT.json
       edge-agent sign --keygen --key FILE

Prints the ${SIGNATURE_HEADER} header value, ed25519=<base64>, for an assignment document: an
ed25519 signature over the EXACT bytes of DOCUMENT.json ("-" reads stdin). Serve those bytes
unchanged, with the header, to agents whose assignments.signingPublicKey is the matching public
key; they reject unsigned or badly signed documents.

Options:
  -k, --key FILE            ed25519 private key: PKCS#8 PEM ("openssl genpkey -algorithm ed25519
                            -out fleet.key") or OpenSSH ("ssh-keygen -t ed25519 -f fleet.key")
      --passphrase-env NAME environment variable holding the key's passphrase, if encrypted
      --header              print the whole header line ("${SIGNATURE_HEADER}: ed25519=...")
      --keygen              write a new key pair: FILE (private, PEM, mode 0600) and FILE.pub
                            (public, PEM); prints the public key for assignments.signingPublicKey
  -h, --help                this help

The agent's assignments.signingPublicKey accepts a PEM public key, an "ssh-ed25519 AAAA..." line
(e.g. fleet.key.pub from ssh-keygen), or the raw 32-byte key in base64 (what --keygen prints).
`;

export interface SignCommandIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Reads all of stdin (for DOCUMENT "-"). */
  stdin?: () => Promise<Buffer>;
  env?: NodeJS.ProcessEnv;
}

const OPTIONS = {
  key: { type: 'string', short: 'k' },
  'passphrase-env': { type: 'string' },
  header: { type: 'boolean' },
  keygen: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function runSignCommand(argv: string[], io: SignCommandIo = {}): Promise<number> {
  const out = io.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = io.stderr ?? ((t: string) => void process.stderr.write(t));
  const env = io.env ?? process.env;
  const { values, positionals } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) {
    out(SIGN_USAGE);
    return 0;
  }
  if (!values.key) throw new UsageError('sign: --key FILE is required (an ed25519 private key; see edge-agent sign --help)');

  if (values.keygen) {
    if (positionals.length > 0) throw new UsageError('sign --keygen takes no DOCUMENT');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    try {
      writeFileSync(values.key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`sign --keygen: cannot create ${values.key} (${code === 'EEXIST' ? 'it already exists; not overwriting it' : (code ?? (e as Error).message)})`);
    }
    writeFileSync(`${values.key}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    err(`wrote ${values.key} (private key: keep it on the fleet side) and ${values.key}.pub; set assignments.signingPublicKey to:\n`);
    out(`${raw}\n`);
    return 0;
  }

  if (positionals.length !== 1) throw new UsageError('sign: give exactly one DOCUMENT.json ("-" for stdin)');
  const file = positionals[0]!;
  let keyData: Buffer;
  try {
    keyData = readFileSync(values.key);
  } catch (e) {
    throw new UsageError(`sign: cannot read the key file ${values.key} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const passEnv = values['passphrase-env'];
  const passphrase = passEnv ? env[passEnv] : undefined;
  if (passEnv && passphrase === undefined) throw new UsageError(`sign: --passphrase-env ${passEnv}: that environment variable is not set`);
  let key;
  try {
    key = loadSigningPrivateKey(keyData, passphrase);
  } catch (e) {
    throw new UsageError(`sign: ${values.key}: ${(e as Error).message}`);
  }

  let body: Buffer;
  try {
    body = file === '-' ? await (io.stdin ?? readStdin)() : readFileSync(file);
  } catch (e) {
    throw new UsageError(`sign: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new UsageError(`sign: ${file} is not JSON (${(e as Error).message}); agents would reject it`);
  }
  if (doc === null || typeof doc !== 'object' || !Number.isInteger((doc as { revision?: unknown }).revision)) {
    err(`edge-agent sign: warning: ${file} has no integer "revision"; agents will reject it (check it with edge-agent check --assignments)\n`);
  }
  const value = signAssignmentBody(body, key);
  out(values.header ? `${SIGNATURE_HEADER}: ${value}\n` : `${value}\n`);
  return 0;
}
