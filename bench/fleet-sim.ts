// npm run fleet-sim -- --agents N [--gateway sshd|builtin] [--json] [--timeout-ms MS]
//                      [--max-startups 10:30:100] [--per-source-max-startups N (builtin; default 0 = none)]
//                      [--retry-interval-ms MS] [--max-retry-interval-ms MS]
// Reconnect storm after a gateway restart: see bench/lib/fleet-sim.ts. Exit 0 when every agent
// came back, 1 when some were left behind.
import { parseArgs } from 'node:util';
import { runFleetSim } from './lib/fleet-sim.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '500' },
    json: { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '180000' },
    gateway: { type: 'string', default: 'sshd' },
    'max-startups': { type: 'string', default: '10:30:100' },
    // all simulated agents share 127.0.0.1: see FleetSimOptions.perSourceMaxStartups
    'per-source-max-startups': { type: 'string', default: '0' },
    // the agents' reconnect settings (default: the library's, retry 5000 ms doubling to 60000 ms)
    'retry-interval-ms': { type: 'string' },
    'max-retry-interval-ms': { type: 'string' },
  },
});
const agents = Number(values.agents);
if (!Number.isInteger(agents) || agents < 1) {
  process.stderr.write(`--agents must be a positive integer (got ${values.agents})\n`);
  process.exit(2);
}
if (values.gateway !== 'sshd' && values.gateway !== 'builtin') {
  process.stderr.write(`--gateway must be sshd or builtin (got ${values.gateway})\n`);
  process.exit(2);
}
const perSource = Number(values['per-source-max-startups']);
if (!Number.isInteger(perSource) || perSource < 0) {
  process.stderr.write(`--per-source-max-startups must be a non-negative integer (got ${values['per-source-max-startups']})\n`);
  process.exit(2);
}
const result = await runFleetSim({
  agents,
  gateway: values.gateway,
  perSourceMaxStartups: perSource,
  timeoutMs: Number(values['timeout-ms']),
  maxStartups: values['max-startups'],
  reconnect: {
    ...(values['retry-interval-ms'] ? { retryIntervalMs: Number(values['retry-interval-ms']) } : {}),
    ...(values['max-retry-interval-ms'] ? { maxRetryIntervalMs: Number(values['max-retry-interval-ms']) } : {}),
  },
  log: (line) => process.stderr.write(`[fleet-sim] ${line}\n`),
});
if (values.json) {
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
} else {
  const a = result.attempts;
  process.stdout.write([
    `agents                      ${result.agents} (one forward each) vs ${result.gateway === 'builtin' ? 'built-in gateway' : 'sshd'} ${result.sshd}, MaxStartups ${result.maxStartups}${result.perSourceMaxStartups === null ? '' : `, per source ${result.perSourceMaxStartups || 'unlimited'}`}`,
    `initial connect             ${(result.initialConnectMs / 1000).toFixed(1)} s`,
    `all serving again after     ${result.recoveryMs === null ? `NOT ALL (${result.leftBehind} left behind)` : `${(result.recoveryMs / 1000).toFixed(1)} s`} (from the gateway's SIGKILL)`,
    `left behind                 ${result.leftBehind}`,
    `connection attempts         ${a.total} total, max ${a.maxPerSecond}/s, mean ${a.meanPerSecond}/s, peak/mean ${a.peakToMean}`,
    `per second                  ${a.perSecond.join(' ')}`,
    `dropped past MaxStartups    ${result.refusedByMaxStartups}`,
    `failed attempts by code     ${JSON.stringify(result.failuresByCode)}`,
    `memory per session          ${(result.memoryPerSession.rssBytes / 1024).toFixed(0)} KiB RSS, ${(result.memoryPerSession.heapBytes / 1024).toFixed(0)} KiB heap+external`,
  ].join('\n') + '\n');
}
process.exit(result.leftBehind === 0 ? 0 : 1);
