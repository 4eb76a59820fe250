// ssh2 accessor: the client side of ssh2 without its package index. ssh2 1.17's
// `lib/index.js` requires everything the package offers — the SSH server (`lib/server.js`),
// key generation (`lib/keygen.js`), the HTTP(S) agents (`lib/http-agents.js`, which load
// node:http and node:https) — while a session uses only the client (`lib/client.js`, which
// itself loads the protocol, crypto, SFTP and agent modules it needs), the agent base class
// (`lib/agent.js`) and the key parser (`lib/protocol/keyParser.js`). Loading those three
// directly leaves the rest out of every session thread (docs/performance.md, "Start-up and idle
// footprint"). Code that needs the server (the gateway) imports 'ssh2' as before; both share
// the same module instances, so the classes are the same. Loaded with require(), not import:
// Node's ESM loader would run its CommonJS export lexer over these large files (V8 then
// optimises the lexer: +4 MB RSS in `tunnel`). test/unit/ssh2-client-modules.test.ts fails if
// an ssh2 upgrade moves these files or makes them differ from what the index exports, and checks
// which of ssh2's files a session thread loads.
import { createRequire } from 'node:module';
import type ssh2 from 'ssh2';

const require = createRequire(import.meta.url);

/** ssh2's Client (what `require('ssh2').Client` is). */
export const SshClient = require('ssh2/lib/client.js') as typeof ssh2.Client;
/** ssh2's BaseAgent (what `require('ssh2').BaseAgent` is): the class a custom agent extends. */
export const SshBaseAgent = (require('ssh2/lib/agent.js') as { BaseAgent: typeof ssh2.BaseAgent }).BaseAgent;
/** ssh2's key parser (what `require('ssh2').utils.parseKey` is). */
export const parseKey = (require('ssh2/lib/protocol/keyParser.js') as { parseKey: typeof ssh2.utils.parseKey }).parseKey;
