// Memory stays bounded whoever is slow: the agent (run as the real CLI, so its RSS is its own)
// must push back instead of buffering when the service, the outside client or its own uplink
// to the SSH host cannot keep up. Without backpressure each case below buffers 100+ MB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { pseudoRandomChunks, startSinkServer, startSourceServer, startThrottledProxy, throttledRead, connectAndCollect, sleep } from '../helpers/tcp-services.js';
import { runCli, type CliProcess } from '../helpers/cli.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const MB = 1024 * 1024;
/** How much the agent's RSS may grow while 200 MB are offered. */
const GROWTH_BOUND = 36 * MB;

async function startAgent(sshd: SshdHandle, sshPort: number, spec: string): Promise<{ cli: CliProcess; port: number }> {
  const cli = runCli(['tunnel', '-p', String(sshPort), '-i', sshd.userKeyPath, '--fingerprint', sshd.hostKeyFingerprint, '-R', spec, `${sshd.username}@127.0.0.1`]);
  const m = await cli.waitForLine(/^forward R1 up: \S+:(\d+) /);
  return { cli, port: Number(m[1]) };
}

/** Samples RSS every 100 ms while `during` runs; returns the peak. */
async function peakRss(cli: CliProcess, during: Promise<unknown>): Promise<number> {
  let peak = cli.rss();
  let done = false;
  during.finally(() => { done = true; }).catch(() => {}); // its failure is the caller's to await
  while (!done) {
    peak = Math.max(peak, cli.rss());
    await sleep(100);
  }
  return Math.max(peak, cli.rss());
}

/** Prints the growth (the margin to the bound is what docs/performance.md tracks) and checks it. */
function expectBoundedGrowth(what: string, baseline: number, peak: number): void {
  console.log(`${what}: RSS growth ${((peak - baseline) / MB).toFixed(1)} MB (baseline ${(baseline / MB).toFixed(1)} MB, bound ${GROWTH_BOUND / MB} MB)`);
  expect(peak - baseline, what).toBeLessThan(GROWTH_BOUND);
}

describe('memory stays bounded', () => {
  let sshd: SshdHandle;
  const agents: CliProcess[] = [];
  beforeAll(async () => { sshd = await startSshd(); });
  afterAll(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await sshd?.dispose();
  });

  it('a slow service while an outside client offers 200 MB', async () => {
    const sink = await startSinkServer({ bytesPerSecond: 2 * MB });
    const { cli, port } = await startAgent(sshd, sshd.port, `127.0.0.1:0:127.0.0.1:${sink.port}`);
    agents.push(cli);
    await sleep(300);
    const baseline = cli.rss();
    const offering = connectAndCollect(port, pseudoRandomChunks(200 * MB), { timeoutMs: 4_000, allowError: true }).catch(() => undefined);
    const peak = await peakRss(cli, sleep(4_000));
    await offering;
    expect(sink.bytesReceived).toBeGreaterThan(2 * MB); // traffic did flow
    expect(sink.bytesReceived).toBeLessThan(60 * MB); // and the service set the pace
    expectBoundedGrowth('slow service', baseline, peak);
    cli.child.kill('SIGKILL');
    await sink.close();
  });

  it('a slow outside client while the service offers 200 MB', async () => {
    const source = await startSourceServer(200 * MB);
    const { cli, port } = await startAgent(sshd, sshd.port, `127.0.0.1:0:127.0.0.1:${source.port}`);
    agents.push(cli);
    await sleep(300);
    const baseline = cli.rss();
    const reading = throttledRead(port, { bytesPerSecond: 2 * MB, limit: 8 * MB, timeoutMs: 30_000 });
    const peak = await peakRss(cli, reading);
    expect((await reading).bytes).toBe(8 * MB);
    expectBoundedGrowth('slow outside client', baseline, peak);
    cli.child.kill('SIGKILL');
    await source.close();
  });

  it('many busy channels behind a slow uplink to the SSH host (ssh2 ignores socket backpressure)', async () => {
    const source = await startSourceServer(5 * MB);
    const uplink = await startThrottledProxy(sshd.port, 4 * MB);
    const { cli, port } = await startAgent(sshd, uplink.port, `127.0.0.1:0:127.0.0.1:${source.port}`);
    agents.push(cli);
    await sleep(300);
    const baseline = cli.rss();
    // 40 channels × 5 MB = 200 MB offered into a 4 MB/s uplink. The peak is watched until every
    // channel has reached the service (channel opens queue behind data on the congested uplink:
    // on a loaded machine that takes longer than 5 s) and for 3 s of all 40 pushing after that.
    const clients = Array.from({ length: 40 }, () => connectAndCollect(port, undefined, { timeoutMs: 60_000, keepBytes: 0, allowError: true }).catch(() => undefined));
    const allOpenThenBusy = waitUntil(() => source.connections === 40, 45_000, 'all 40 channels to reach the service').then(() => sleep(3_000));
    const peak = await peakRss(cli, allOpenThenBusy);
    await allOpenThenBusy;
    expect(source.connections).toBe(40);
    expectBoundedGrowth('slow uplink', baseline, peak);
    cli.child.kill('SIGKILL');
    await Promise.all(clients);
    await Promise.all([source.close(), uplink.close()]);
  }, 90_000);
});
