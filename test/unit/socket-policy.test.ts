// Which unix socket paths a gateway login may ask for (src/gateway/socket-policy.ts).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKeyOptions } from '../../src/gateway/authorized-keys.js';
import type { ClientIdentity } from '../../src/gateway/client-identity.js';
import { checkSocketRequest, resolveSocketDir, socketOwnerName } from '../../src/gateway/socket-policy.js';

const dir = '/run/edge';
const key: ClientIdentity = { kind: 'key', fingerprint: 'SHA256:abc', keyType: 'ssh-ed25519', comment: 'dev' };
const check = (requested: string, user = 'device-42', options = parseKeyOptions(`principals="${user}"`)) => checkSocketRequest(dir, requested, key, user, options);

describe('unix socket forward policy', () => {
  it('names: <user>.sock and <user>-<suffix>.sock directly in the directory; relative paths are taken inside it', () => {
    expect(check('/run/edge/device-42.sock')).toEqual({ allowed: true, path: '/run/edge/device-42.sock' });
    expect(check('/run/edge/device-42-http.sock')).toEqual({ allowed: true, path: '/run/edge/device-42-http.sock' });
    expect(check('device-42.sock')).toEqual({ allowed: true, path: '/run/edge/device-42.sock' });
    expect(check('/run/edge/./device-42.sock')).toEqual({ allowed: true, path: '/run/edge/device-42.sock' });
    for (const bad of ['/run/edge/device-4.sock', '/run/edge/device-42', '/run/edge/device-42-.sock', '/run/edge/device-42-a b.sock', '/run/edge/xdevice-42.sock', '/run/edge/device-42.sock.bak']) {
      expect(check(bad)).toMatchObject({ allowed: false, reason: expect.stringMatching(/may only use device-42\.sock or device-42-<suffix>\.sock/) });
    }
  });

  it('places: nothing outside the directory or below it', () => {
    for (const bad of ['../device-42.sock', '/run/device-42.sock', '/run/edge/sub/device-42.sock', '/run/edge/../edge2/device-42.sock', '/tmp/device-42.sock']) {
      expect(check(bad)).toMatchObject({ allowed: false, reason: expect.stringMatching(/directly inside the gateway's socket directory \/run\/edge/) });
    }
    expect(check('')).toMatchObject({ allowed: false });
    expect(check('/run/edge/device-42\0.sock')).toMatchObject({ allowed: false });
  });

  it('owners: a key login by its user name; a password login may not have sockets; odd user names cannot name one', () => {
    expect(socketOwnerName(key, 'alice')).toBe('alice');
    expect(socketOwnerName({ kind: 'password', user: 'alice' }, 'alice')).toBeUndefined();
    // a certificate login is named by the key id its CA signed, whatever user name was typed
    const cert = { kind: 'certificate' as const, keyId: 'device-42', serial: '7', ca: 'SHA256:ca', fingerprint: 'SHA256:k', principals: ['fleet'] };
    expect(socketOwnerName(cert, 'alice')).toBe('device-42');
    expect(checkSocketRequest(dir, '/run/edge/alice.sock', { kind: 'password', user: 'alice' }, 'alice', undefined)).toMatchObject({ allowed: false, reason: expect.stringMatching(/need a publickey login/) });
    expect(check('/run/edge/.hidden.sock', '.hidden')).toMatchObject({ allowed: false, reason: expect.stringMatching(/cannot name a socket/) });
    expect(check(`/run/edge/${'a'.repeat(99)}.sock`, 'a'.repeat(99))).toMatchObject({ allowed: false });
  });

  it('key options as sshd: restrict / no-port-forwarding refuse, port-forwarding re-allows, permitlisten does not apply', () => {
    expect(check('device-42.sock', 'device-42', parseKeyOptions('restrict'))).toMatchObject({ allowed: false, reason: expect.stringMatching(/restrict/) });
    expect(check('device-42.sock', 'device-42', parseKeyOptions('no-port-forwarding'))).toMatchObject({ allowed: false, reason: expect.stringMatching(/no-port-forwarding/) });
    expect(check('device-42.sock', 'device-42', parseKeyOptions('restrict,permitlisten="localhost:8080"'))).toMatchObject({ allowed: false });
    expect(check('device-42.sock', 'device-42', parseKeyOptions('restrict,port-forwarding,principals="device-42"'))).toMatchObject({ allowed: true });
    expect(check('device-42.sock', 'device-42', parseKeyOptions('permitlisten="localhost:8080",principals="device-42"'))).toMatchObject({ allowed: true });
    // without principals= the typed user name alone names nothing
    expect(check('device-42.sock', 'device-42', parseKeyOptions(''))).toMatchObject({ allowed: false, reason: expect.stringMatching(/no principals=/) });
  });

  it('principals="…" on the key line binds the key to those user names', () => {
    const bound = parseKeyOptions('principals="device-42,device-42b"');
    expect(bound.principals).toEqual(['device-42', 'device-42b']);
    expect(check('device-42.sock', 'device-42', bound)).toMatchObject({ allowed: true });
    expect(check('device-42b-http.sock', 'device-42b', bound)).toMatchObject({ allowed: true });
    expect(check('device-7.sock', 'device-7', bound)).toMatchObject({ allowed: false, reason: 'user "device-7" is not in this key\'s principals (device-42, device-42b); its sockets are named after those' });
    expect(() => parseKeyOptions('principals="a,,b"')).toThrow(/empty name/);
  });
});

describe('the socket directory', () => {
  it('is resolved to its realpath once at start; a missing path or a file is a config error', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'edge-socket-dir-'));
    try {
      mkdirSync(path.join(base, 'real'));
      symlinkSync(path.join(base, 'real'), path.join(base, 'link'));
      writeFileSync(path.join(base, 'file'), '');
      const realBase = await resolveSocketDir(base);
      // the policy compares against this path, so a symlinked directory must not survive
      await expect(resolveSocketDir(path.join(base, 'link'))).resolves.toBe(path.join(realBase, 'real'));
      await expect(resolveSocketDir(path.join(base, 'missing'))).rejects.toMatchObject({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringMatching(/missing is not a usable directory \(ENOENT\)/) });
      await expect(resolveSocketDir(path.join(base, 'file'))).rejects.toMatchObject({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringMatching(/file is not a usable directory \(ENOTDIR\)/) });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
