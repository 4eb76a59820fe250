// We rely on one private field of ssh2's Client for channel routing (ssh2 #377). This test
// fails when an ssh2 upgrade renames or reshapes it, before any user sees channels vanish.
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { installForwardRouting } from '../../src/session/ssh2-forward-routing.js';

describe('ssh2 internals used by the session core', () => {
  it('is the ssh2 version the routing hook was written against', () => {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('ssh2/package.json'), 'utf8')) as { version: string };
    expect(pkg.version.split('.').slice(0, 1)).toEqual(['1']);
    const source = readFileSync(require.resolve('ssh2/lib/client.js'), 'utf8');
    // The lookup our Proxy answers: keyed by `${destIP}:${destPort}`.
    expect(source).toContain('self._forwarding[`${data.destIP}:${data.destPort}`]');
  });

  it('Client.connect() creates the _forwarding table the hook replaces, and the hook answers lookups by port', () => {
    const client = new ssh2.Client();
    client.on('error', () => {});
    const sock = new PassThrough();
    client.connect({ sock, username: 'x', hostVerifier: () => false });
    installForwardRouting(client, (ip, port) => (port === 4242 ? 4242 : undefined));
    const table = (client as unknown as { _forwarding: Record<string, number | undefined> })._forwarding;
    expect(table['127.0.0.1:4242']).toBe(4242);
    expect(table['0.0.0.0:4242']).toBe(4242);
    expect(table['127.0.0.1:1']).toBeUndefined();
    client.end();
  });
});
