// The command line of `npm run bench` (see the header of bench/run.ts) and the sizes it implies.
import { parseArgs } from 'node:util';

export interface BenchSizes {
  reps: number;
  bulkBytes: number;
  httpSeconds: number;
  opensSeconds: number;
  held: number;
  startReps: number;
  libReps: number;
}

export type BulkDir = 'upload' | 'download';

export interface BenchOptions {
  quick: boolean;
  sizes: BenchSizes;
  /** Repetitions of the HTTP and channel-open measurements. */
  httpReps: number;
  bulkDirs: BulkDir[];
  phases: Set<string>;
  only?: string;
  /** --phases was given (a partial run does not write latest.md). */
  phasesGiven: boolean;
  skipBuild: boolean;
  noInstall: boolean;
  profile: boolean;
}

const BENCH_OPTIONS = {
  quick: { type: 'boolean' },
  reps: { type: 'string' },
  only: { type: 'string' },
  'skip-build': { type: 'boolean' },
  'no-install': { type: 'boolean' },
  phases: { type: 'string' },
  profile: { type: 'boolean' },
  bytes: { type: 'string' },
  dirs: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export const BENCH_USAGE = `usage: npm run bench -- [options]

  --quick            smoke run (64 MiB bulk, one round; ~1.2 min)
  --reps N           rounds of the bulk/start/footprint measurements (default 5)
  --phases LIST      comma-separated subset of bulk,http,opens,held,startup,footprint
                     (a partial run does not write bench/results/latest.md)
  --only REGEX       only the tunnels whose id matches (e.g. 'agent|ssh-R', 'aes.*nodelay')
  --bytes MiB        bulk transfer size (default 1024)
  --dirs LIST        bulk directions: upload,download
  --profile          run the agents under --cpu-prof and print their top functions
  --skip-build       measure the existing dist/ (BENCH_AGENT_DIST=<dist> measures another build)
  --no-install       do not apt-get install wrk when it is missing
  --help             this text
`;

export function parseBenchOptions(argv = process.argv.slice(2)): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: BENCH_OPTIONS });
  } catch (err) {
    usageError((err as Error).message);
  }
  const flags = parsed.values;
  if (flags.help) {
    process.stdout.write(BENCH_USAGE);
    process.exit(0);
  }
  return optionsFromFlags(flags);
}


function optionsFromFlags(flags: ReturnType<typeof parseArgs<{ options: typeof BENCH_OPTIONS }>>['values']): BenchOptions {
  const quick = flags.quick ?? false;
  const sizes: BenchSizes = quick
    ? { reps: 1, bulkBytes: 64 * 2 ** 20, httpSeconds: 1, opensSeconds: 1, held: 1000, startReps: 1, libReps: 1 }
    : { reps: 5, bulkBytes: 2 ** 30, httpSeconds: 4, opensSeconds: 3, held: 1000, startReps: 5, libReps: 5 };
  if (flags.reps) sizes.reps = Math.max(1, positiveNumber('--reps', flags.reps));
  if (flags.bytes) sizes.bulkBytes = positiveNumber('--bytes', flags.bytes) * 2 ** 20;
  const phases = (flags.phases ?? PHASES.join(',')).split(',');
  const unknown = phases.filter((p) => !PHASES.includes(p));
  if (unknown.length) usageError(`unknown phase ${unknown.join(', ')} (phases: ${PHASES.join(', ')})`);
  return {
    quick,
    sizes,
    httpReps: quick ? 1 : 3,
    bulkDirs: (flags.dirs ?? 'upload,download').split(',').filter((d): d is BulkDir => d === 'upload' || d === 'download'),
    phases: new Set(phases),
    only: flags.only,
    phasesGiven: Boolean(flags.phases),
    skipBuild: flags['skip-build'] ?? false,
    noInstall: flags['no-install'] ?? false,
    profile: flags.profile ?? false,
  };
}

const PHASES = ['bulk', 'http', 'opens', 'held', 'startup', 'footprint'];

function positiveNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) usageError(`${flag} wants a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${BENCH_USAGE}`);
  process.exit(2);
}
