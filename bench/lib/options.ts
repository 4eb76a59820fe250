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

export function parseBenchOptions(): BenchOptions {
  const { values: flags } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      reps: { type: 'string' },
      only: { type: 'string' },
      'skip-build': { type: 'boolean' },
      'no-install': { type: 'boolean' },
      phases: { type: 'string' },
      profile: { type: 'boolean' },
      bytes: { type: 'string' },
      dirs: { type: 'string' },
    },
  });
  const quick = flags.quick ?? false;
  const sizes: BenchSizes = quick
    ? { reps: 1, bulkBytes: 64 * 2 ** 20, httpSeconds: 1, opensSeconds: 1, held: 1000, startReps: 1, libReps: 1 }
    : { reps: 5, bulkBytes: 2 ** 30, httpSeconds: 4, opensSeconds: 3, held: 1000, startReps: 5, libReps: 5 };
  if (flags.reps) sizes.reps = Math.max(1, Number(flags.reps));
  if (flags.bytes) sizes.bulkBytes = Number(flags.bytes) * 2 ** 20;
  return {
    quick,
    sizes,
    httpReps: quick ? 1 : 3,
    bulkDirs: (flags.dirs ?? 'upload,download').split(',').filter((d): d is BulkDir => d === 'upload' || d === 'download'),
    phases: new Set((flags.phases ?? 'bulk,http,opens,held,startup,footprint').split(',')),
    only: flags.only,
    phasesGiven: Boolean(flags.phases),
    skipBuild: flags['skip-build'] ?? false,
    noInstall: flags['no-install'] ?? false,
    profile: flags.profile ?? false,
  };
}
