// policy.maxChannelsPerForward: the local ceiling on a forward's maxChannels. A forward that
// leaves maxChannels out gets the ceiling as its default; one that writes more is over budget,
// in a document and in the local config alike.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load-config.js';
import { checkBudget, DEFAULT_MAX_CHANNELS_PER_FORWARD } from '../../config/policy.js';
import { parseAssignmentDocument, parseSessions } from '../../config/validate-sessions.js';
import { EdgeError } from '../../src/errors.js';

const FP = 'SHA256:' + 'A'.repeat(43);
const remote = (id: string, extra: object = {}) => ({ id, port: 8080, target: 'tcp://127.0.0.1:3000', ...extra });
const session = (lists: Record<string, unknown[]>) => ({ id: 'gw', host: 'gw.example.com', username: 'device-42', credential: 'default', hostKeys: { fingerprints: [FP] }, ...lists });
const all = (extra: object = {}) => session({
  forwards: [remote('web', extra)],
  localForwards: [{ id: 'db', port: 15432, host: 'db.lan', hostPort: 5432, ...extra }],
  dynamicForwards: [{ id: 'socks', port: 1080, ...extra }],
});
const policy = (maxChannelsPerForward?: number) => ({ allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost'], ...(maxChannelsPerForward ? { maxChannelsPerForward } : {}) });
const ctx = (ceiling?: number) => ({ credentials: { default: { agent: true } }, policy: policy(ceiling) });
const channelsOf = (s: { forwards: Array<{ maxChannels: number }>; localForwards?: Array<{ maxChannels: number }>; dynamicForwards?: Array<{ maxChannels: number }> }) =>
  [s.forwards[0]!.maxChannels, s.localForwards?.[0]?.maxChannels, s.dynamicForwards?.[0]?.maxChannels];

function configErrors(config: unknown): string[] {
  try {
    loadConfig({ argsJson: JSON.stringify(config), env: {} });
  } catch (err) {
    expect((err as EdgeError).code).toBe('EDGE_ERR_INVALID_CONFIG');
    return (err as EdgeError).details?.errors as string[];
  }
  throw new Error('expected loadConfig to fail');
}
const config = (sessions: unknown[], ceiling?: number) => ({
  agent: { id: 'device-42' },
  credentials: { default: { agent: true } },
  policy: { ...(ceiling ? { maxChannelsPerForward: ceiling } : {}) },
  sessions,
});

describe('policy.maxChannelsPerForward', () => {
  it('defaults to the schema maximum: nothing changes unless the operator lowers it', () => {
    expect(DEFAULT_MAX_CHANNELS_PER_FORWARD).toBe(1_000_000);
    const parsed = parseAssignmentDocument({ revision: 1, sessions: [all()] }, ctx());
    expect(parsed.errors).toEqual([]);
    expect(channelsOf(parsed.document!.sessions[0]!)).toEqual([1024, 1024, 1024]);
    expect(parseAssignmentDocument({ revision: 1, sessions: [all({ maxChannels: 1_000_000 })] }, ctx()).errors).toEqual([]);
  });

  it('an omitted maxChannels gets the ceiling as its default, in all three lists; a written one within it is kept', () => {
    const parsed = parseAssignmentDocument({ revision: 1, sessions: [all()] }, ctx(2));
    expect(parsed.errors).toEqual([]);
    expect(channelsOf(parsed.document!.sessions[0]!)).toEqual([2, 2, 2]);
    const within = parseAssignmentDocument({ revision: 1, sessions: [all({ maxChannels: 1 })] }, ctx(2));
    expect(channelsOf(within.document!.sessions[0]!)).toEqual([1, 1, 1]);
    // A ceiling above the schema default leaves the default alone.
    expect(channelsOf(parseSessions([all()], ctx(5000)).sessions[0]!)).toEqual([1024, 1024, 1024]);
  });

  it('a maxChannels written above the ceiling is over budget, naming the path, the forward, the value and the key', () => {
    const { document, errors } = parseAssignmentDocument({ revision: 1, sessions: [all({ maxChannels: 3 })] }, ctx(2));
    expect(document).toBeUndefined();
    expect(errors).toEqual([
      expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.maxChannels \(gw\/web\): 3 exceeds the local policy\.maxChannelsPerForward 2 /),
      expect.stringMatching(/^sessions\[0\]\.localForwards\[0\]\.maxChannels \(gw\/db\): 3 exceeds the local policy\.maxChannelsPerForward 2 /),
      expect.stringMatching(/^sessions\[0\]\.dynamicForwards\[0\]\.maxChannels \(gw\/socks\): 3 exceeds the local policy\.maxChannelsPerForward 2 /),
    ]);
    // checkBudget on a raw document (what the applier checks): written values only.
    expect(checkBudget([session({ forwards: [remote('a'), remote('b', { maxChannels: 1024 })] })], { maxChannelsPerForward: 2 }))
      .toEqual([expect.stringMatching(/^sessions\[0\]\.forwards\[1\]\.maxChannels \(gw\/b\): 1024 exceeds the local policy\.maxChannelsPerForward 2/)]);
  });

  it('binds the local config the same way: omitted gets the ceiling, written above it does not start; the key is range-checked', () => {
    const loaded = loadConfig({ argsJson: JSON.stringify(config([all()], 8)), env: {} });
    expect(loaded.policy.maxChannelsPerForward).toBe(8);
    expect(channelsOf(loaded.sessions[0]!)).toEqual([8, 8, 8]);
    expect(configErrors(config([session({ forwards: [remote('web', { maxChannels: 9 })] })], 8)))
      .toEqual([expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.maxChannels \(gw\/web\): 9 exceeds the local policy\.maxChannelsPerForward 8/)]);
    expect(loadConfig({ argsJson: JSON.stringify(config([all()])), env: { EDGE_AGENT_POLICY_MAX_CHANNELS_PER_FORWARD: '3' } }).sessions[0]!.forwards[0]!.maxChannels).toBe(3);
    expect(configErrors({ ...config([]), policy: { maxChannelsPerForward: 0 } })[0]).toMatch(/^policy\.maxChannelsPerForward: must be an integer from 1 to 1000000/);
  });
});
