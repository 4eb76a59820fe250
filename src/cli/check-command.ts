// `edge-agent check [--config FILE] [--assignments FILE]`: validates the agent config (file,
// EDGE_AGENT_CONFIG_JSON and EDGE_AGENT_* overrides, exactly as `run` would load them) and
// optionally an assignment document against the schema and the config's credentials and
// policy. Exit 0 with a summary on stdout, or 2 with every problem on stderr, one per line.
import { readFileSync } from 'node:fs';
import { loadConfig, type AgentConfig } from '../../config/load-config.js';
import { referencedFiles, sessionFiles, unreadableFiles } from '../../config/referenced-files.js';
import { parseAssignmentDocument } from '../../config/validate-sessions.js';
import { isEdgeError } from '../errors.js';
import { parseCommandArgs, UsageError } from './usage-error.js';
import { fileErrorReason } from '../lifecycle/errno.js';

export const CHECK_USAGE = `Usage: edge-agent check [--config FILE] [--assignments FILE]

Validates a config file (default: $EDGE_AGENT_CONFIG; EDGE_AGENT_CONFIG_JSON and EDGE_AGENT_<KEY>
variables apply as for 'edge-agent run') and, with --assignments, an assignment document
({ "revision": N, "sessions": [...] }) against the config's credentials and local policy.
Every file the config names (private keys, known_hosts, CA files) must be readable.
Prints a summary and exits 0, or prints every problem, one per line, on stderr and exits 2.

Options:
  -c, --config FILE        config file to check
  -a, --assignments FILE   assignment document to check
  -h, --help               this help
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  assignments: { type: 'string', short: 'a' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Remote, local and dynamic forwards together. */
function countForwards(sessions: Array<{ forwards: unknown[]; localForwards?: unknown[]; dynamicForwards?: unknown[] }>): number {
  return sessions.reduce((n, s) => n + s.forwards.length + (s.localForwards?.length ?? 0) + (s.dynamicForwards?.length ?? 0), 0);
}

export async function runCheckCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: false });
  if (values.help) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (values.config === '') throw new UsageError('--config needs a file name');
  if (values.assignments === '') throw new UsageError('--assignments needs a file name');

  const problems: string[] = [];
  let config: AgentConfig | undefined;
  try {
    config = loadConfig({ file: values.config, env });
  } catch (err) {
    if (!isEdgeError(err, 'EDGE_ERR_INVALID_CONFIG')) throw err;
    const errors = Array.isArray(err.details?.errors) ? (err.details.errors as string[]) : [err.message];
    problems.push(...errors);
  }
  if (config) problems.push(...unreadableFiles(referencedFiles(config)));

  let assignmentSummary: string | undefined;
  if (values.assignments !== undefined) {
    const file = values.assignments;
    const prefix = `assignments ${file}: `;
    if (!config) {
      problems.push(`${prefix}not checked: the config is invalid (its credentials and policy are needed to check it)`);
    } else {
      const doc = readJson(file, prefix, problems);
      if (doc !== undefined) {
        const { document, errors } = parseAssignmentDocument(doc, { credentials: config.credentials, policy: config.policy });
        problems.push(...errors.map((e) => prefix + e));
        if (document) problems.push(...unreadableFiles(sessionFiles(document.sessions)).map((e) => prefix + e));
        if (document) {
          assignmentSummary = `assignments OK: revision ${document.revision}, ${document.sessions.length} sessions, ${countForwards(document.sessions)} forwards`;
        }
      }
    }
  }

  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    return 2;
  }
  process.stdout.write(`config OK: ${config!.sessions.length} sessions, ${countForwards(config!.sessions)} forwards\n`);
  if (assignmentSummary) process.stdout.write(`${assignmentSummary}\n`);
  return 0;
}

function readJson(file: string, prefix: string, problems: string[]): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${prefix}cannot read it (${fileErrorReason(err)})`);
    return undefined;
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    problems.push(`${prefix}invalid JSON: ${(err as Error).message}`);
    return undefined;
  }
}
