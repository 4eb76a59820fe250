// src/ssh2/client-modules.ts loads ssh2's client, agent and key-parser modules directly instead of
// the package index (which also loads the SSH server, keygen and the HTTP agents). Fails if an
// ssh2 upgrade moves those files or makes them differ from what the index exports, if a session
// thread (`edge-agent tunnel`, the session worker) loads ssh2's index again, and if a client made
// from them cannot hold a live session.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKey, SshBaseAgent, SshClient } from '../../src/ssh2/client-modules.js';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { modulesLoadedBy } from '../helpers/thread-modules.js';

const require = createRequire(import.meta.url);

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

describe("ssh2's client modules without its index", () => {
  it('are the very objects the package index exports', () => {
    const ssh2 = require('ssh2') as typeof import('ssh2');
    expect(SshClient).toBe(ssh2.Client);
    expect(SshBaseAgent).toBe(ssh2.BaseAgent);
    expect(parseKey).toBe(ssh2.utils.parseKey);
    // and parse a key as the index's parser does
    const key = parseKey(Buffer.from(generateEd25519('client-modules').private));
    expect(key instanceof Error ? key.message : key.type).toBe('ssh-ed25519');
  });

  it('a session thread loads the client, not the server, keygen or HTTP agents', () => {
    for (const module of ['src/cli/tunnel-command.ts', 'workers/session-runner.ts']) {
      const files = modulesLoadedBy(module).ssh2Files;
      expect(files, module).toContain('lib/client.js');
      expect(files, module).toContain('lib/protocol/Protocol.js');
      expect(files.filter((f) => /^lib\/(index|server|keygen|http-agents)\.js$/.test(f)), module).toEqual([]);
    }
  }, 120_000);

  it('a client made from them holds a live session', async () => {
    const pair = await connectSsh2Pair();
    pairs.push(pair);
    expect(pair.client).toBeInstanceOf(SshClient);
    const reply = await new Promise<string>((resolve, reject) => {
      pair.server.once('session', (accept) => {
        accept().once('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.end('hello from the server');
          stream.exit(0);
        });
      });
      pair.client.exec('anything', (err, stream) => {
        if (err) return reject(err);
        let data = '';
        stream.on('data', (d: Buffer) => { data += d.toString(); }).on('close', () => resolve(data));
      });
    });
    expect(reply).toBe('hello from the server');
  });
});
