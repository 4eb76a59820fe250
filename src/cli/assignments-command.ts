// `edge-agent assignments reset [--config FILE]`: the operator's local way out when a document
// left the agent stuck (e.g. a fleet that restarted its revisions at 1 below the floor): removes
// the cached assignment document, which is also the revision floor, from the state dir (or
// assignments.cacheFile). Run it with the agent stopped; at its next start the agent takes the
// endpoint's current document whatever its revision. Exit 0 (removed, or nothing to remove),
// 2 (usage or invalid config), 1 (the file could not be removed).
import { readFile, unlink } from 'node:fs/promises';
import { loadConfig } from '../../config/load-config.js';
import { assignmentStateFile } from '../assignments/state-dir.js';
import { isEdgeError } from '../errors.js';
import { parseCommandArgs, UsageError } from './usage-error.js';

export const ASSIGNMENTS_USAGE = `Usage: edge-agent assignments reset [--config FILE]

Forgets the cached assignment document and the revision floor: removes the state file
(agent.stateDir/assignment-cache.json, or assignments.cacheFile when set). Stop the agent
first: a running agent keeps its floor in memory and writes the file again. At its next start
the agent applies the endpoint's document whatever its revision.

Options:
  -c, --config FILE   the agent's config file (default: $EDGE_AGENT_CONFIG)
  -h, --help          this help
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runAssignmentsCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) {
    process.stdout.write(ASSIGNMENTS_USAGE);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (sub !== 'reset') throw new UsageError(sub === undefined ? 'assignments needs a subcommand: reset' : `unknown assignments subcommand "${sub}" (known: reset)`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.config === '') throw new UsageError('--config needs a file name');

  let file: string;
  try {
    file = assignmentStateFile(loadConfig({ file: values.config, env }), env);
  } catch (err) {
    if (!isEdgeError(err, 'EDGE_ERR_INVALID_CONFIG')) throw err;
    const errors = Array.isArray(err.details?.errors) ? (err.details.errors as string[]) : [err.message];
    for (const e of errors) process.stderr.write(`${e}\n`);
    return 2;
  }

  const revision = await readFile(file, 'utf8').then((t) => (JSON.parse(t) as { revision?: unknown }).revision, () => undefined);
  try {
    await unlink(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      process.stdout.write(`nothing to reset: ${file} does not exist (no revision floor)\n`);
      return 0;
    }
    process.stderr.write(`edge-agent: cannot remove ${file} (${e.code ?? e.message})\n`);
    return 1;
  }
  process.stdout.write(`removed ${file}${revision !== undefined ? ` (cached revision ${String(revision)}, the revision floor)` : ''}; the agent applies the endpoint's document at its next start\n`);
  return 0;
}
