// Runs the throwaway sshd (test/helpers/sshd.ts) in a worker thread for the fleet simulation:
// the helper's kill/restart scan /proc synchronously, which with a thousand sshd processes would
// stall the event loop of the agents being measured. Messages: { type: 'kill-restart' } →
// { type: 'back', downMs }; { type: 'logs' } → { type: 'logs', text }; { type: 'dispose' } → { type: 'disposed' }.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { startSshd } from '../../test/helpers/sshd.js';

/**
 * The gateway host dies: one pass over /proc finds the sshd listener (its PidFile) and every
 * process below it, and all get SIGKILL at once, so every agent loses its connection at the same
 * moment (the helper's own kill() freezes the tree first, which takes seconds with 2000 processes).
 */
function crash(pidFile: string): void {
  let root: number;
  try {
    root = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const port = parentPort!;
const sshd = await startSshd({ extraConfig: workerData.extraConfig as string[] });
port.postMessage({
  type: 'ready',
  host: sshd.host, port: sshd.port, username: sshd.username, userKeyPath: sshd.userKeyPath, knownHostsPath: sshd.knownHostsPath,
});
port.on('message', async (msg: { type: string }) => {
  if (msg.type === 'kill-restart') {
    const started = Date.now();
    crash(path.join(sshd.dir, 'sshd.pid'));
    await sshd.kill(); // reaps what is left and waits until it is gone
    const killedMs = Date.now() - started;
    await sshd.restart();
    port.postMessage({ type: 'back', killedMs, downMs: Date.now() - started });
  } else if (msg.type === 'logs') {
    port.postMessage({ type: 'logs', text: sshd.logs() });
  } else if (msg.type === 'dispose') {
    await sshd.dispose();
    port.postMessage({ type: 'disposed' });
    port.close();
  }
});
