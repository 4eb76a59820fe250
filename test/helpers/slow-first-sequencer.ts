// Test files known to take the longest start first within their tier, so that two workers do
// not end with one long file running alone (a fresh CI clone has no timing cache for vitest to
// order by). The list is a hint: a missing or renamed file only loses its head start.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SLOW_FIRST = [
  'fleet-sim', 'agent-run', 'http-target', 'telemetry', 'cli-tunnel', 'memory-bounds', 'cli-local-forwards',
  'assignments-live', 'auth-retry', 'gateway-cli', 'assignments-cli', 'cli-operator', 'cli-check',
];

function slowRank(spec: TestSpecification): number {
  const name = spec.moduleId.split('/').pop()!.replace(/\.test\.ts$/, '');
  const i = SLOW_FIRST.indexOf(name);
  return i < 0 ? SLOW_FIRST.length : i;
}

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const position = new Map(ordered.map((spec, i) => [spec, i]));
    return [...ordered].sort((a, b) =>
      a.project.name !== b.project.name
        ? position.get(a)! - position.get(b)!
        : slowRank(a) - slowRank(b) || position.get(a)! - position.get(b)!);
  }
}
