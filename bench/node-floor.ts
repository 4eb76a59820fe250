// The floor for channel opens in Node: CPU µs per connection of a plain Node TCP forwarder (no
// SSH at all: accept, connect to the echo service, pipe both ways with half-close) beside
// `ssh -R … 'sleep infinity'` and the agent (nodelay condition), measurement windows rotated
// among the three. Evidence for docs/performance.md "Channel opens".
//   npx tsx bench/node-floor.ts DIST [ROUNDS]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { channelOpens } from './lib/measure.js';
import { cpuSeconds } from './lib/proc.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel } from './lib/tunnels.js';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const env = { sshd, backends, agentCli: path.join(process.argv[2]!, 'src/cli.js') };
const ssh = await startTunnel(specById('ssh-aes-nd'), env);
const agent = await startTunnel(specById('agent-aes-nd'), env);
const fwdSrc = `const net=require('net');const s=net.createServer({allowHalfOpen:true},(c)=>{c.setNoDelay(true);const t=net.connect({host:'127.0.0.1',port:${backends.echo},noDelay:true,allowHalfOpen:true});c.pipe(t);t.pipe(c);c.on('error',()=>t.destroy());t.on('error',()=>c.destroy());c.on('close',()=>t.destroy());t.on('close',()=>c.destroy());}).listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
const fwd = spawn(process.execPath, ['-e', fwdSrc], { stdio: ['ignore', 'pipe', 'inherit'] });
const fwdPort = await new Promise<number>((r) => fwd.stdout!.once('data', (d) => r(Number(String(d).trim()))));
const tools: Array<[string, number, number]> = [['ssh', ssh.pid!, ssh.ports.echo], ['agent', agent.pid!, agent.ports.echo], ['node-fwd', fwd.pid!, fwdPort]];
for (const [, , port] of tools) await channelOpens(port, 4);
const res: Record<string, number[]> = {};
for (let r = 0; r < Number(process.argv[3] ?? 10); r++) {
  for (const [name, pid, port] of tools.map((_, i) => tools[(i + r) % tools.length]!)) {
    const c0 = cpuSeconds(pid);
    const o = await channelOpens(port, 2);
    (res[name] ??= []).push(((cpuSeconds(pid) - c0) / o.opens) * 1e6);
    await sleep(200);
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [k, v] of Object.entries(res)) console.log(`${k}: CPU µs per connection median ${med(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`);
fwd.kill(); await ssh.stop(); await agent.stop(); backends.stop(); await sshd.dispose();
