// `edge-agent run [--config FILE]`: the long-running agent. First SIGTERM/SIGINT drains
// (forwards cancelled, open channels get agent.drainTimeoutMs), then exit 0; a second signal,
// or channels still open at the deadline, make it exit 1. SIGHUP reads the configuration again
// and reconciles it (AgentHandle.reloadConfig), then fetches the fleet endpoint (assignments.url)
// at once, like POST /assignments/refresh on the admin server. Without any configuration, or
// with a config naming files that cannot be read, it exits 2 at once.
import { CONFIG_FILE_ENV, CONFIG_JSON_ENV, loadConfig } from '../../config/load-config.js';
import { referencedFiles, unreadableFiles } from '../../config/referenced-files.js';
import { startAgent, type AgentHandle } from '../agent.js';
import { preloadedConfig } from '../preloaded-config.js';
import { isEdgeError } from '../errors.js';
import { parseCommandArgs, UsageError } from './usage-error.js';
import { onShutdown } from '../lifecycle/shutdown.js';

export const RUN_USAGE = `Usage: edge-agent run [--config FILE]

Runs the agent: holds every configured session (one worker thread each) and serves the admin
endpoint, until SIGTERM/SIGINT. The config file may also be named by EDGE_AGENT_CONFIG, or the
whole config given as JSON in EDGE_AGENT_CONFIG_JSON; EDGE_AGENT_<KEY> variables override it.
Every file the config names (keys, known_hosts, CA files) must be readable (else exit 2).
SIGHUP reads the configuration again and applies it: unchanged sessions keep running. With
assignments.url set, the agent polls that fleet endpoint; SIGHUP (or POST /assignments/refresh
on the admin server) also fetches it at once.
`;

/** Sessions come from a config document, EDGE_AGENT_SESSIONS or a fleet endpoint: one of them must be given. */
const CONFIG_SOURCES = [CONFIG_FILE_ENV, CONFIG_JSON_ENV, 'EDGE_AGENT_SESSIONS', 'EDGE_AGENT_ASSIGNMENTS_URL'];

export async function runRunCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (values.config === '') throw new UsageError('--config needs a file name');
  if (values.config) process.env.EDGE_AGENT_CONFIG = values.config;
  if (!CONFIG_SOURCES.some((name) => process.env[name])) {
    throw new UsageError(
      'no configuration given: nothing to run. Give one with --config FILE (or EDGE_AGENT_CONFIG=FILE), '
      + 'or the whole config as JSON in EDGE_AGENT_CONFIG_JSON; see config/example.json. '
      + "For a single tunnel without a config file use 'edge-agent tunnel'.",
      'EDGE_ERR_INVALID_CONFIG',
    );
  }

  let agent: AgentHandle;
  try {
    // Loaded once, as startAgent({}) would load it; the agent starts from this load.
    const loaded = loadConfig({ argsJson: '{}', env: process.env });
    const unreadable = unreadableFiles(referencedFiles(loaded));
    if (unreadable.length > 0) {
      throw new UsageError(`${unreadable.length} file(s) named in the configuration cannot be read:\n  ${unreadable.join('\n  ')}`, 'EDGE_ERR_INVALID_CONFIG');
    }
    agent = await startAgent(preloadedConfig(loaded));
  } catch (err) {
    if (isEdgeError(err) && err.code === 'EDGE_ERR_INVALID_CONFIG') throw new UsageError(err.message, err.code);
    throw err;
  }
  // One reload at a time; a SIGHUP during one runs once more after it.
  let reloading: Promise<void> | undefined;
  let again = false;
  const reload = async (): Promise<void> => {
    try {
      const unreadable = unreadableFiles(referencedFiles(loadConfig({ env: process.env })));
      if (unreadable.length > 0) throw new Error(`${unreadable.length} file(s) named in it cannot be read: ${unreadable.join('; ')}`);
      const r = await agent.reloadConfig();
      process.stderr.write(`edge-agent: SIGHUP: configuration reloaded${r.file ? ` from ${r.file}` : ''}: ${r.sessions} static session(s)${r.restartNeeded.length ? `; needs a restart to apply: ${r.restartNeeded.join(', ')}` : ''}\n`);
    } catch (err) {
      process.stderr.write(`edge-agent: SIGHUP: configuration not reloaded, the running one stays: ${describeFailure(err)}\n`);
    }
    try {
      const a = await agent.refreshAssignments();
      process.stderr.write(`edge-agent: SIGHUP: fetched the fleet endpoint: ${a.lastFetch?.outcome ?? 'no answer'}; revision ${a.revision ?? 'none'} running${a.lastError ? ` (${a.lastError.code}: ${a.lastError.message})` : ''}\n`);
    } catch (err) {
      process.stderr.write(`edge-agent: SIGHUP: ${describeFailure(err)}\n`);
    }
  };
  const shutdown = onShutdown({
    drain: async (signal) => {
      process.stderr.write(`edge-agent: ${signal}: draining (open channels have agent.drainTimeoutMs; send it again to stop at once)\n`);
      const drained = await agent.close();
      if (!drained) process.stderr.write('edge-agent: drain deadline reached: open channels were cut\n');
      return drained ? 0 : 1;
    },
    // A second signal makes the stop an abort (exit 1), whichever way the drain ends.
    stop: async (signal) => {
      process.stderr.write(`edge-agent: ${signal} again: stopping now\n`);
      await agent.destroy();
      return 1;
    },
    hangup: () => {
      if (reloading) {
        again = true;
        return;
      }
      reloading = (async () => {
        do {
          again = false;
          await reload();
        } while (again);
        reloading = undefined;
      })();
    },
  });
  // Printed only once the handlers are in place: whoever waits for this line may signal at once
  // (a SIGHUP before its handler would end the process).
  if (agent.adminUrl) process.stdout.write(`edge-agent running; status at ${agent.adminUrl}/status\n`);
  return shutdown.exitCode;
}

/** A failure as the operator reads it: its EDGE_ERR_* code first when it has one. */
function describeFailure(err: unknown): string {
  if (isEdgeError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
