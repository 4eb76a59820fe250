// The errno classifier (src/lifecycle/errno.ts), fed with errors from real system calls.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyErrno, connectErrorCode, connectFailureReason, errnoOf, fileErrorReason, isMissingAddressFamily, listenErrorReason } from '../../src/lifecycle/errno.js';

function readError(file: string): unknown {
  try {
    readFileSync(file);
  } catch (err) {
    return err;
  }
  throw new Error(`${file} was readable`);
}

async function connectError(port: number): Promise<unknown> {
  return new Promise((resolve) => net.connect(port, '127.0.0.1').on('error', resolve));
}

describe('errno classifier', () => {
  it('file errors read the same everywhere', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'errno-'));
    try {
      expect(fileErrorReason(readError(path.join(dir, 'missing')))).toBe('no such file');
      expect(fileErrorReason(readError(dir))).toBe('it is a directory');
      expect(fileErrorReason(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }))).toBe('permission denied');
      expect(fileErrorReason(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }))).toBe('EMFILE: too many open files');
      // a parse error thrown in the same try block keeps its message, even with an EDGE_ERR_ code
      expect(fileErrorReason(Object.assign(new Error('not an OpenSSH certificate'), { code: 'EDGE_ERR_CERT_INVALID' }))).toBe('not an OpenSSH certificate');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a refused connection: class, code and reason', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const err = await connectError(port);
    expect(errnoOf(err)).toBe('ECONNREFUSED');
    expect(connectErrorCode(errnoOf(err))).toBe('EDGE_ERR_CONNECT_REFUSED');
    expect(connectFailureReason(err)).toBe('connection refused (nothing listening there)');
  });

  it('a port in use: the listen reason', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const second = net.createServer();
    const err = await new Promise((resolve) => second.once('error', resolve).listen((taken.address() as net.AddressInfo).port, '127.0.0.1'));
    taken.close();
    expect(listenErrorReason(err)).toBe('the port is already in use');
    expect(listenErrorReason(err, 'unix')).toBe('the path is in use');
  });

  it('wrapped errors (undici cause, AggregateError) and the connection codes', () => {
    expect(errnoOf({ cause: { code: 'ENOTFOUND' } })).toBe('ENOTFOUND');
    expect(errnoOf({ errors: [{ code: 'ETIMEDOUT' }] })).toBe('ETIMEDOUT');
    expect(connectErrorCode('ENOTFOUND')).toBe('EDGE_ERR_HOST_NOT_FOUND');
    expect(connectErrorCode('EAI_AGAIN')).toBe('EDGE_ERR_HOST_NOT_FOUND');
    expect(connectErrorCode('UND_ERR_CONNECT_TIMEOUT')).toBe('EDGE_ERR_CONNECT_TIMEOUT');
    expect(connectErrorCode('EHOSTUNREACH')).toBe('EDGE_ERR_NETWORK');
    expect(connectFailureReason({ code: 'EAI_AGAIN' })).toBe('the host name did not resolve (EAI_AGAIN)');
    expect(classifyErrno(undefined)).toBe('other');
    expect(isMissingAddressFamily('EAFNOSUPPORT')).toBe(true);
    expect(isMissingAddressFamily('EADDRINUSE')).toBe(false);
  });
});
