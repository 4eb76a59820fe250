// The agent's version, sent in the SSH identification string and reported in status and
// telemetry. test/unit/version.test.ts keeps it equal to package.json's.
export const VERSION = '0.1.0';
/** Our SSH identification string (ssh2 prefixes "SSH-2.0-"). */
export const AGENT_IDENT = `ssh-edge-agent_${VERSION}`;
