// `edge-agent run [--config FILE]`: the long-running agent. First SIGTERM/SIGINT drains
// (forwards cancelled, open channels get agent.drainTimeoutMs), then exit 0; a second signal,
// or channels still open at the deadline, make it exit 1. SIGHUP fetches the fleet endpoint
// (assignments.url) at once, like POST /assignments/refresh on the admin server.
import { parseArgs } from 'node:util';
import { startAgent, type AgentHandle } from '../agent.js';
import { isEdgeError } from '../errors.js';
import { UsageError } from './usage-error.js';

export const RUN_USAGE = `Usage: edge-agent run [--config FILE]

Runs the agent: holds every configured session (one worker thread each) and serves the admin
endpoint, until SIGTERM/SIGINT. The config file may also be named by EDGE_AGENT_CONFIG, or the
whole config given as JSON in EDGE_AGENT_CONFIG_JSON; EDGE_AGENT_<KEY> variables override it.
With assignments.url set, the agent polls that fleet endpoint; SIGHUP (or POST
/assignments/refresh on the admin server) fetches it at once.
`;

export async function runRunCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (values.config) process.env.EDGE_AGENT_CONFIG = values.config;

  let agent: AgentHandle;
  try {
    agent = await startAgent({});
  } catch (err) {
    if (isEdgeError(err) && err.code === 'EDGE_ERR_INVALID_CONFIG') throw new UsageError(err.message, err.code);
    throw err;
  }
  process.on('SIGHUP', () => {
    agent.refreshAssignments().then(
      (a) => process.stderr.write(`edge-agent: SIGHUP: fetched the fleet endpoint: ${a.lastFetch?.outcome ?? 'no answer'}; revision ${a.revision ?? 'none'} running${a.lastError ? ` (${a.lastError.message})` : ''}\n`),
      (err: unknown) => process.stderr.write(`edge-agent: SIGHUP: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  if (agent.adminUrl) process.stdout.write(`edge-agent running; status at ${agent.adminUrl}/status\n`);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        process.stderr.write(`edge-agent: ${signal}: draining (open channels have agent.drainTimeoutMs; send it again to stop at once)\n`);
        // Whichever way the stop ends, a second signal makes it an abort (exit 1).
        void agent.close().then((drained) => {
          if (!drained) process.stderr.write('edge-agent: drain deadline reached: open channels were cut\n');
          resolve(signals > 1 || !drained ? 1 : 0);
        });
      } else if (signals === 2) {
        process.stderr.write(`edge-agent: ${signal} again: stopping now\n`);
        void agent.destroy().then(() => resolve(1));
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
