// Where the revision floor and the cached assignment live when nothing names a file (agent.stateDir "").
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assignmentStateFile, resolveStateDir } from '../../src/assignments/state-dir.js';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('agent.stateDir', () => {
  it('a configured directory wins, resolved to an absolute path', () => {
    expect(resolveStateDir('/srv/edge', { STATE_DIRECTORY: '/var/lib/other' })).toBe('/srv/edge');
    expect(resolveStateDir('rel/dir', {})).toBe(path.resolve('rel/dir'));
  });

  it('systemd\'s $STATE_DIRECTORY (its first path) comes next', () => {
    expect(resolveStateDir('', { STATE_DIRECTORY: '/var/lib/edge-agent:/var/lib/extra', XDG_STATE_HOME: '/x' })).toBe('/var/lib/edge-agent');
  });

  it.skipIf(asRoot)('then $XDG_STATE_HOME/edge-agent, then ~/.local/state/edge-agent', () => {
    expect(resolveStateDir('', { XDG_STATE_HOME: '/home/u/.state' })).toBe('/home/u/.state/edge-agent');
    expect(resolveStateDir('', { XDG_STATE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.local/state/edge-agent');
    expect(resolveStateDir('', { HOME: '/home/u' })).toBe('/home/u/.local/state/edge-agent');
    expect(resolveStateDir('', {})).toBe(path.join(os.homedir(), '.local', 'state', 'edge-agent'));
  });

  it.runIf(asRoot)('as root without systemd: /var/lib/edge-agent', () => {
    expect(resolveStateDir('', { XDG_STATE_HOME: '/root/.state', HOME: '/root' })).toBe('/var/lib/edge-agent');
  });

  it('the state file: assignments.cacheFile when set, else assignment-cache.json in the state dir', () => {
    expect(assignmentStateFile({ agent: { stateDir: '/srv/edge' }, assignments: { cacheFile: '' } })).toBe('/srv/edge/assignment-cache.json');
    expect(assignmentStateFile({ agent: { stateDir: '/srv/edge' }, assignments: { cacheFile: '/etc/edge/cache.json' } })).toBe('/etc/edge/cache.json');
  });
});
