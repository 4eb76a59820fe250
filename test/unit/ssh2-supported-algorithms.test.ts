// The supported-algorithms accessor (src/ssh2/supported-algorithms.ts) against live ssh2
// clients: the lists are exactly what ssh2 accepts in `algorithms` (every listed name is
// accepted, an unlisted one refused), and a listed cipher negotiates with a live server.
// Fails if an ssh2 upgrade moves or renames its SUPPORTED_* constants.
import { PassThrough } from 'node:stream';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { ssh2SupportedAlgorithms } from '../../src/ssh2/supported-algorithms.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

function connectWith(algorithms: Record<string, string[]>): void {
  const client = new ssh2.Client();
  client.on('error', () => {});
  try {
    client.connect({ sock: new PassThrough(), username: 'x', hostVerifier: () => false, algorithms: algorithms as never });
  } finally {
    client.end();
  }
}

describe('ssh2 supported algorithms', () => {
  it('every listed name is accepted by ssh2, an unlisted one is refused', () => {
    const lists = ssh2SupportedAlgorithms();
    for (const [category, names] of Object.entries(lists)) {
      expect(names.length, category).toBeGreaterThan(0);
      expect(() => connectWith({ [category]: names }), category).not.toThrow();
      expect(() => connectWith({ [category]: ['no-such-algorithm@example.com'] }), category).toThrow(/Unsupported algorithm/);
    }
    expect(lists.cipher).toContain('chacha20-poly1305@openssh.com');
    expect(lists.serverHostKey).toContain('ssh-ed25519');
  });

  it('a listed cipher negotiates with a live ssh2 server', async () => {
    let negotiated: string | undefined;
    const cipher = ssh2SupportedAlgorithms().cipher.find((c) => c.startsWith('aes256-ctr'))!;
    const pair = await connectSsh2Pair({
      client: { algorithms: { cipher: [cipher] } as never },
      afterConnect: (client) => client.once('handshake', (n: { cs: { cipher: string } }) => { negotiated = n.cs.cipher; }),
    });
    pairs.push(pair);
    expect(negotiated).toBe(cipher);
  });
});
