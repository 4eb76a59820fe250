/**
 * Test helper: a real, throwaway nginx (Debian's /usr/sbin/nginx) on a loopback port, running
 * as the test's user with everything — prefix, pid file, error/access logs, temp paths — in a
 * private temp dir. `serverConfig` is the text of an `http {}`-level config file (e.g. a copy of
 * deploy/nginx/edge-gateway.conf with its listen address and paths templated).
 *
 *   const nginx = await startNginx(conf);   // nginx.port
 *   await nginx.stop();                      // SIGQUIT, then SIGKILL; removes the temp dir
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NGINX_PATH = '/usr/sbin/nginx';

export interface NginxHandle {
  readonly port: number;
  readonly dir: string;
  /** error.log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** `serverConfig` may contain `{{PORT}}`, replaced by the chosen loopback port. */
export async function startNginx(serverConfig: string, port: number): Promise<NginxHandle> {
  if (!existsSync(NGINX_PATH)) throw new Error(`${NGINX_PATH} is missing: apt-get install nginx-light (.ci/run does this in CI)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-nginx-'));
  const errorLogPath = path.join(dir, 'error.log');
  writeFileSync(path.join(dir, 'server.conf'), serverConfig.replaceAll('{{PORT}}', String(port)));
  const root = process.getuid?.() === 0;
  writeFileSync(path.join(dir, 'nginx.conf'), [
    // As root, workers would drop to "nobody" and could not reach sockets owned by the test's user.
    ...(root ? ['user root root;'] : []),
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${errorLogPath} info;`,
    'events { worker_connections 64; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`),
    `  include ${dir}/server.conf;`,
    '}',
  ].join('\n') + '\n');
  const child: ChildProcess = spawn(NGINX_PATH, ['-p', `${dir}/`, '-e', errorLogPath, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited at start (code ${child.exitCode}): ${stderr}${errorLog()}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within 10 s: ${stderr}${errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    port,
    dir,
    errorLog,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}
