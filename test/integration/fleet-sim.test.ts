// The reconnect-storm simulation (npm run fleet-sim) at 100 agents against a real sshd with its
// default MaxStartups 10:30:100: after the gateway dies and comes back, every forward serves again,
// attempts are spread (jittered first reconnect, full-jitter backoff), none is left behind. The
// same storm at 50 agents against the built-in gateway (`--gateway builtin`), killed and restarted.
import { describe, expect, it } from 'vitest';
import { runFleetSim } from '../../bench/lib/fleet-sim.js';

describe('fleet-sim', () => {
  it('100 agents all come back after a gateway restart, without a burst of attempts', async () => {
    const result = await runFleetSim({ agents: 100, timeoutMs: 45_000 });
    expect(result.leftBehind).toBe(0);
    expect(result.recoveryMs).not.toBeNull();
    expect(result.recoveryMs!).toBeLessThan(45_000);
    // the first reconnect is jittered: not all in the same second
    expect(result.attempts.maxPerSecond).toBeLessThan(100);
    // peak/mean over one-second windows is reported (npm run fleet-sim, 1000 agents: docs); with 100
    // agents on a shared CI machine it is too noisy to assert: all back, none in lock-step, is.
    expect(result.memoryPerSession.rssBytes).toBeGreaterThan(0);
  }, 120_000);

  it('50 agents all come back after the built-in gateway is killed and restarted', async () => {
    const result = await runFleetSim({ agents: 50, gateway: 'builtin', timeoutMs: 30_000 });
    expect(result.gateway).toBe('builtin');
    expect(result.sshd).toMatch(/ssh-edge-agent-gateway/); // the agents really talked to it
    expect(result.maxStartups).toBe('10:30:100');
    expect(result.leftBehind).toBe(0);
    expect(result.recoveryMs).not.toBeNull();
    expect(result.gatewayDownMs).toBeGreaterThan(0);
    // the first reconnect is jittered: not all in the same second
    expect(result.attempts.maxPerSecond).toBeLessThan(50);
    expect(result.attempts.total).toBeGreaterThanOrEqual(50);
    expect(result.refusedByMaxStartups).toBeGreaterThanOrEqual(0);
  }, 90_000);
});
