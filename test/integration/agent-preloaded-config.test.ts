// `edge-agent run` loads the configuration once and hands that load to startAgent()
// (src/preloaded-config.ts): the agent must run what was loaded, and reloadConfig() (SIGHUP)
// must still read the configuration afresh from the environment and files.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load-config.js';
import { startAgent, type AgentHandle } from '../../src/agent.js';
import { preloadedConfig } from '../../src/preloaded-config.js';

describe('startAgent() from the load `run` made', () => {
  const agents: AgentHandle[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.destroy()));
  });

  it('runs the preloaded config; reloadConfig() loads afresh from the environment', async () => {
    expect(process.env.EDGE_AGENT_AGENT_ID).toBeUndefined();
    const env = { ...process.env, EDGE_AGENT_AGENT_ID: 'from-run-load', EDGE_AGENT_ADMIN_LISTEN: '', EDGE_AGENT_TELEMETRY_EXPORTER: 'none', EDGE_AGENT_AGENT_LOG_LEVEL: 'error' };
    const token = preloadedConfig(loadConfig({ argsJson: '{}', env }));
    expect(JSON.stringify(token)).toBe('{}');

    const agent = await startAgent(token, { log: () => {}, runtimeFlags: false });
    agents.push(agent);
    expect(agent.adminUrl).toBeNull();
    expect((await agent.status()).agentId).toBe('from-run-load');

    // SIGHUP's path: the process environment has no EDGE_AGENT_AGENT_ID, so the fresh load differs.
    const reloaded = await agent.reloadConfig();
    expect(reloaded.sessions).toBe(0);
    expect(reloaded.restartNeeded).toContain('agent.id');
  });
});
