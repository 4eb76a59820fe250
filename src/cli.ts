// The `edge-agent` command line: dispatches to one command module each, loaded on demand so
// that a command pays only for the modules it uses (start time and memory on small devices).
// Exit codes follow the contract: 0 clean stop, 1 runtime failure, 2 invalid usage or
// configuration.
// First, before any command loads ssh2: skips ssh2's unused poly1305 WebAssembly (~3.6 MB).
import './ssh2/poly1305-wasm.js';
import { UsageError } from './cli/usage-error.js';
import { applyRuntimeFlags, applySessionlessMainThreadFlags } from './runtime-flags.js';
import { VERSION } from './version.js';

const USAGE = `Usage: edge-agent <command> [options]

Commands:
  run [--config FILE]         the agent: holds the configured sessions until SIGTERM/SIGINT, then drains
  tunnel [opts] [user@]host   one session from OpenSSH-style flags (-R …), no config file
  gateway [opts]              the built-in SSH gateway that accepts agents' reverse forwards
  demo                        gateway + sample web service + agent on loopback; prints a URL to try
  check [--config FILE] [--assignments FILE]
                              validate a config file / assignment document (exit 0, or 2 listing every error)
  status [--admin URL] [--json]
                              print a running agent's /status
  assignments reset [--config FILE]
                              forget the cached assignment document and revision floor (agent stopped)
  sign --key FILE DOCUMENT.json
                              print the X-Edge-Signature header value for an assignment document
                              (fleet side; --keygen makes a key pair)
  version                     print the version

Run 'edge-agent <command> --help' for a command's options.
`;

/** Each command's module, imported only when that command runs. */
const COMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  run: async () => (await import('./cli/run-command.js')).runRunCommand,
  tunnel: async () => (await import('./cli/tunnel-command.js')).runTunnelCommand,
  demo: async () => (await import('./cli/demo-command.js')).runDemoCommand,
  gateway: async () => (await import('./cli/gateway-command.js')).runGatewayCommand,
  check: async () => (await import('./cli/check-command.js')).runCheckCommand,
  status: async () => (await import('./cli/status-command.js')).runStatusCommand,
  assignments: async () => (await import('./cli/assignments-command.js')).runAssignmentsCommand,
  sign: async () => (await import('./cli/sign-command.js')).runSignCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const load = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  // `run`'s main thread carries no session: its young generation stays small from here on, before
  // its modules load (their static imports are evaluated before runRunCommand() could set it, and
  // V8 doubled the new space twice while they did: 8 MB reserved, ≈ 3.5 MB resident at idle).
  if (command === 'run') applySessionlessMainThreadFlags();
  if (load) return (await load())(rest);
  switch (command) {
    case 'version':
    case '--version':
    case '-V':
      process.stdout.write(`edge-agent ${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

// First, before any session allocates: the GC settings every figure in README "Performance"
// was measured with, whatever node flags the process was started with.
applyRuntimeFlags();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`edge-agent: ${err.message}\nTry 'edge-agent --help'.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`edge-agent: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
