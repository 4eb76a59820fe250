// Where the agent keeps state that must survive a restart: the last applied assignment document,
// whose revision is also the revision floor (an older signed document replayed after a restart is
// stale, not applied again). agent.stateDir, or by default:
//   $STATE_DIRECTORY   set by systemd for StateDirectory= (first path when there are several)
//   /var/lib/edge-agent  when running as root without systemd
//   $XDG_STATE_HOME/edge-agent, else ~/.local/state/edge-agent
// The directory is created 0700 on first write; files in it are 0600.
import os from 'node:os';
import path from 'node:path';

/** The state file's name inside the state directory. */
export const ASSIGNMENT_STATE_FILE = 'assignment-cache.json';

export function resolveStateDir(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  if (configured) return path.resolve(configured);
  const systemd = (env.STATE_DIRECTORY ?? '').split(':').find((p) => p !== '');
  if (systemd) return path.resolve(systemd);
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/edge-agent';
  const xdg = env.XDG_STATE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'edge-agent');
  return path.join(env.HOME || os.homedir(), '.local', 'state', 'edge-agent');
}

/**
 * The file holding the cached document and the revision floor: assignments.cacheFile when set,
 * else ASSIGNMENT_STATE_FILE in the state directory.
 */
export function assignmentStateFile(settings: { agent: { stateDir: string }; assignments: { cacheFile: string } }, env: NodeJS.ProcessEnv = process.env): string {
  if (settings.assignments.cacheFile) return path.resolve(settings.assignments.cacheFile);
  return path.join(resolveStateDir(settings.agent.stateDir, env), ASSIGNMENT_STATE_FILE);
}
