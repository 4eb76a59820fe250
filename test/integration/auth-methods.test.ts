// The authentication methods besides key files: ssh-agent (a real OpenSSH ssh-agent against
// real sshd), password and keyboard-interactive (an in-process server that offers only those).
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { startSshAgent } from '../helpers/ssh-agent.js';
import { startSshd } from '../helpers/sshd.js';
import { startTestServer } from '../helpers/ssh2-test-server.js';
import { sessionConfigFor } from '../helpers/tunnel-fixtures.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function connects(session: TunnelSession): Promise<string> {
  session.start();
  try {
    await session.waitUntilConnected();
    return 'connected';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await session.close(100);
  }
}

describe('authentication methods', () => {
  it('ssh-agent: a key held only by a running ssh-agent logs in to sshd', async () => {
    const sshd = await startSshd();
    cleanups.push(() => sshd.dispose());
    const socket = path.join(sshd.dir, 'agent.sock');
    const agent = await startSshAgent(socket);
    cleanups.push(() => agent.kill());
    agent.add(sshd.userKeyPath);
    const session = new TunnelSession(sessionConfigFor(sshd, { auth: { username: sshd.username, agent: socket } }));
    expect(await connects(session)).toBe('connected');
  });

  it('password, when the server offers only password', async () => {
    const server = await startTestServer({ authorizedKey: generateEd25519().public, password: 's3cret', passwordMethods: ['password'] });
    cleanups.push(() => server.close());
    const make = (password: string) => new TunnelSession({ id: 'pw', host: '127.0.0.1', port: server.port, auth: { username: 'device', password }, hostKeys: { fingerprints: [server.fingerprint] }, reconnect: { mode: 'never' } });
    expect(await connects(make('s3cret'))).toBe('connected');
    expect(await connects(make('wrong'))).toBe('EDGE_ERR_AUTH_FAILED');
  });

  it('keyboard-interactive answers the password prompt, when the server offers only that', async () => {
    const server = await startTestServer({ authorizedKey: generateEd25519().public, password: 's3cret', passwordMethods: ['keyboard-interactive'] });
    cleanups.push(() => server.close());
    const session = new TunnelSession({ id: 'kbd', host: '127.0.0.1', port: server.port, auth: { username: 'device', password: 's3cret' }, hostKeys: { fingerprints: [server.fingerprint] }, reconnect: { mode: 'never' } });
    const logs: string[] = [];
    session.on('log', (_level, message) => logs.push(message));
    expect(await connects(session)).toBe('connected');
    expect(logs.join('\n')).not.toContain('s3cret');
  });
});
