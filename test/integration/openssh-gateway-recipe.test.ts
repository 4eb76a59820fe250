// deploy/openssh/: a real OpenSSH sshd running the recipe's Match block and an authorized_keys
// line written exactly as the recipe's (only paths, the user name, the ports and the key itself
// are filled in), with an agent session through it: the permitted wildcard forward carries
// bytes and listens on every interface, the localhost-only one listens on loopback only, and a
// port the key does not list is refused.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import os from 'node:os';

const recipe = fileURLToPath(new URL('../../deploy/openssh/', import.meta.url));
const conf = readFileSync(path.join(recipe, 'edge-agents.conf'), 'utf8');
const keysExample = readFileSync(path.join(recipe, 'authorized_keys.example'), 'utf8');

/** Can we open a TCP connection to host:port? */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('the OpenSSH gateway recipe (deploy/openssh)', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  const sessions: TunnelSession[] = [];
  const ports: Record<string, number> = {};
  let keysFile = '';

  beforeAll(async () => {
    echo = await startEchoServer();
    for (const p of ['2520', '2521', '2522', '2523']) ports[p] = await freePort();
    const fill = (text: string) => text.replace(/\b252[0-3]\b/g, (p) => String(ports[p]));
    // The Match block as shipped: user name, authorized_keys path and ports filled in.
    keysFile = path.join(os.tmpdir(), `edge-recipe-keys-${process.pid}-${Date.now()}`);
    const matchBlock = fill(conf)
      .replace('Match User edge', `Match User ${os.userInfo().username}`)
      .replaceAll('/etc/ssh/edge-agents/authorized_keys', keysFile)
      .split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(matchBlock[0]).toMatch(/^Match User /);
    sshd = await startSshd({ extraConfig: matchBlock, gatewayPorts: 'no' });
    // The recipe's key line, with this test's key in place of the placeholder.
    const line = keysExample.split('\n').find((l) => l.startsWith('restrict,'))!;
    const pub = readFileSync(`${sshd.userKeyPath}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(keysFile, `${fill(line).replace(/ssh-ed25519 \S+/, pub)}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close(500)));
    await Promise.all([echo?.close(), sshd?.dispose()]);
    if (keysFile) rmSync(keysFile, { force: true });
  });

  function open(forwards: Array<{ id: string; bind: string; port: number }>): TunnelSession {
    const session = new TunnelSession(sessionConfigFor(sshd, { id: `recipe-${sessions.length}`, forwards: forwards.map((f) => ({ ...f, target: `tcp://127.0.0.1:${echo.port}` })) }));
    sessions.push(session);
    session.start();
    return session;
  }

  it('permitted forwards come up where the agent asked; bytes flow', async () => {
    const session = open([{ id: 'any', bind: '', port: ports['2522']! }, { id: 'local', bind: 'localhost', port: ports['2523']! }]);
    await session.waitUntilConnected();
    expect(await session.waitForForward('any')).toBe(ports['2522']);
    expect(await session.waitForForward('local')).toBe(ports['2523']);
    const r = await connectAndCollect(ports['2522']!, Buffer.from('through the recipe'));
    expect(r.data.toString()).toBe('through the recipe');
    // GatewayPorts clientspecified (in the Match block, over the global "no"): "" = every interface.
    expect(await reachable('127.0.0.2', ports['2522']!)).toBe(true);
    expect(await reachable('127.0.0.2', ports['2523']!)).toBe(false);
    expect(await reachable('127.0.0.1', ports['2523']!)).toBe(true);
  });

  it('a port the key does not list is refused, although PermitListen allows it', async () => {
    const session = open([{ id: 'other', bind: '', port: ports['2520']! }]);
    await session.waitUntilConnected();
    const forward = await waitUntil(() => session.status().forwards.find((f) => f.state === 'refused' || f.state === 'retrying'), 15_000, 'forward refused');
    expect(forward.lastError?.code).toBe('EDGE_ERR_FORWARD_REFUSED');
    expect(await reachable('127.0.0.1', ports['2520']!)).toBe(false);
  });
});
