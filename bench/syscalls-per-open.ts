// System calls per channel open (strace -c -f on the running process, 3 s of 16 parallel
// clients): `ssh -R … 'sleep infinity'` and one or more agent builds (nodelay condition).
//   npx tsx bench/syscalls-per-open.ts DIST [DIST…]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { channelOpens } from './lib/measure.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel } from './lib/tunnels.js';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const env = { sshd, backends, agentCli: '' };
const tools = [
  ['ssh', await startTunnel(specById('ssh-aes-nd'), env)],
  ...process.argv.slice(2).map((d, i) => [`build${i}`, null as never] as const),
] as Array<[string, Awaited<ReturnType<typeof startTunnel>>]>;
for (let i = 0; i < process.argv.length - 2; i++) tools[i + 1]![1] = await startTunnel(specById('agent-aes-nd'), { ...env, agentCli: path.join(process.argv[i + 2]!, 'src/cli.js') });
await sleep(1000);
for (const [name, t] of tools) {
  await channelOpens(t.ports.echo, 1);
  const out = `/tmp/cc-ab/strace-${name}.txt`;
  const st = spawn('strace', ['-c', '-f', '-o', out, '-p', String(t.pid)], { stdio: 'ignore' });
  await sleep(1500);
  const r = await channelOpens(t.ports.echo, 3);
  st.kill('SIGINT');
  await new Promise((res) => st.once('exit', res));
  const text = readFileSync(out, 'utf8');
  const total = /(\d+)\s+(\d+)?\s*total/.exec(text.split('\n').filter((l) => /total/.test(l)).join('\n'));
  const calls = text.split('\n').filter((l) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l)).map((l) => { const f = l.trim().split(/\s+/); return [f[f.length - 1], Number(f[3])] as [string, number]; });
  console.log(`${name}: ${r.opens} opens; syscalls per open: ${calls.map(([n, c]) => `${n} ${(c / r.opens).toFixed(2)}`).join(', ')}`);
  void total;
}
for (const [, t] of tools) await t.stop();
backends.stop();
await sshd.dispose();
