// The client's JavaScript per CHANNEL_DATA packet on the upload path, with and without the direct
// hook (src/ssh2/channel-data-direct.ts), measured so that machine load matters little: two live
// in-process ssh2 pairs (one with the hook), each client channel piped by the agent's channel
// pipe to a real TCP sink; batches of N payloads are fed to the client's CHANNEL_DATA handler
// (what ssh2 calls after decrypting and parsing a packet), timed until the turn's corked target
// write has gone out (setImmediate), alternating between the two. A preempted batch only gets
// slower, so the low percentiles are the cost itself.
//
//   npx tsx bench/channel-data-micro.ts [--batch 4] [--batches 4000]
import net from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { Channel } from 'ssh2';
import { connectSsh2Pair } from '../test/helpers/ssh2-pair.js';
import { installChannelDataDirect } from '../src/ssh2/channel-data-direct.js';
import { pipeChannel, type SshChannel } from '../src/net/channel-pipe.js';
import { SshSocketGate } from '../src/net/ssh-socket-gate.js';

const { values: flags } = parseArgs({ options: { batch: { type: 'string' }, batches: { type: 'string' } } });
const BATCH = Number(flags.batch ?? 4);
const BATCHES = Number(flags.batches ?? 4000);
const PACKET = 32 * 1024;

type Handler = (p: unknown, recipient: number, data: Buffer) => void;

async function setup(direct: boolean) {
  const pair = await connectSsh2Pair({
    client: { algorithms: { cipher: ['aes128-gcm@openssh.com'] } as never },
    afterConnect: (c) => { if (direct && !installChannelDataDirect(c)) throw new Error('hook not installed'); },
  });
  const sink = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const accepted = new Promise<Channel>((r) => pair.server.on('tcpip', (accept) => r(accept())));
  const channel = await new Promise<SshChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch as unknown as SshChannel))));
  await accepted;
  const target = net.connect((sink.address() as net.AddressInfo).port, '127.0.0.1');
  await once(target, 'connect');
  pipeChannel(channel, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: () => {} });
  const protocol = (pair.client as unknown as { _protocol: { _handlers: { CHANNEL_DATA: Handler } } })._protocol;
  const recipient = (channel as unknown as { incoming: { id: number } }).incoming.id;
  const block = Buffer.alloc(PACKET * BATCH, 7);
  const payloads = Array.from({ length: BATCH }, (_, i) => block.subarray(i * PACKET, (i + 1) * PACKET));
  return {
    async batch(): Promise<number> {
      const t0 = process.hrtime.bigint();
      const handler = protocol._handlers.CHANNEL_DATA;
      for (let i = 0; i < BATCH; i++) handler(protocol, recipient, payloads[i]!);
      await new Promise((r) => setImmediate(r));
      const ns = Number(process.hrtime.bigint() - t0);
      // let the sink take it all, outside the timed part
      if (target.writableLength > 0) await once(target, 'drain');
      await new Promise((r) => setTimeout(r, 0));
      return ns;
    },
    close() { pair.close(); target.destroy(); sink.close(); },
  };
}

const pct = (v: number[], q: number) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };

async function main(): Promise<void> {
  const variants = { stream: await setup(false), direct: await setup(true) };
  const times: Record<string, number[]> = { stream: [], direct: [] };
  for (let i = 0; i < 500; i++) for (const v of Object.values(variants)) await v.batch(); // JIT warm-up
  for (let i = 0; i < BATCHES; i++) {
    const order = i % 2 ? (['stream', 'direct'] as const) : (['direct', 'stream'] as const);
    for (const name of order) times[name]!.push(await variants[name].batch());
  }
  for (const v of Object.values(variants)) v.close();
  const per = (ns: number) => (ns / BATCH / 1000).toFixed(2);
  process.stdout.write(`batches of ${BATCH} × 32 KiB, ${BATCHES} each, µs per packet (handler → target writev):\n`);
  for (const name of ['stream', 'direct']) {
    const t = times[name]!;
    process.stdout.write(`${name.padEnd(7)} min ${per(Math.min(...t))}  p10 ${per(pct(t, 0.1))}  p25 ${per(pct(t, 0.25))}  median ${per(pct(t, 0.5))}\n`);
  }
  const d = (q: number) => (pct(times.stream!, q) - pct(times.direct!, q)) / BATCH / 1000;
  process.stdout.write(`saved per packet: p10 ${d(0.1).toFixed(2)} µs, p25 ${d(0.25).toFixed(2)} µs, median ${d(0.5).toFixed(2)} µs (× 30.5k packets per GB)\n`);
  process.exit(0);
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
