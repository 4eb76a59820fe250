// The tools under test (see bench/lib/tunnels.ts) and which of them a run measures.
import type { TunnelSpec } from './tunnels.js';

export const AES = 'aes128-gcm@openssh.com' as const;
export const CHACHA = 'chacha20-poly1305@openssh.com' as const;

export const ALL_SPECS: TunnelSpec[] = [
  { id: 'direct', tool: 'direct', condition: 'forward-only', httpTarget: 'tcp', label: 'direct (no tunnel)' },
  { id: 'ssh-aes-fo', tool: 'ssh', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', label: 'ssh -N -R, aes128-gcm' },
  { id: 'ssh-aes-nd', tool: 'ssh', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', label: "ssh -R … 'sleep infinity', aes128-gcm" },
  { id: 'ssh-chacha-fo', tool: 'ssh', cipher: CHACHA, condition: 'forward-only', httpTarget: 'tcp', label: 'ssh -N -R, chacha20' },
  { id: 'ssh-chacha-nd', tool: 'ssh', cipher: CHACHA, condition: 'nodelay', httpTarget: 'tcp', label: "ssh -R … 'sleep infinity', chacha20" },
  { id: 'agent-aes-fo', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', label: 'edge-agent, aes128-gcm' },
  { id: 'agent-aes-nd', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', label: 'edge-agent --sshd-nodelay-exec, aes128-gcm' },
  { id: 'agent-chacha-fo', tool: 'agent', cipher: CHACHA, condition: 'forward-only', httpTarget: 'tcp', label: 'edge-agent, chacha20' },
  { id: 'agent-chacha-nd', tool: 'agent', cipher: CHACHA, condition: 'nodelay', httpTarget: 'tcp', label: 'edge-agent --sshd-nodelay-exec, chacha20' },
  { id: 'agent-http-aes-fo', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'http', label: 'edge-agent http:// target, aes128-gcm' },
  { id: 'agent-http-aes-nd', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'http', label: 'edge-agent http:// target --sshd-nodelay-exec, aes128-gcm' },
  // before/after of the levers (same build, levers switched off through EDGE_DIAG_DISABLE)
  // (write batching is only active where sshd sends with TCP_NODELAY, i.e. in the nodelay rows)
  { id: 'agent-aes-fo-nopool', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', disableLevers: 'padding-pool', label: 'edge-agent, padding pool off' },
  { id: 'agent-aes-nd-nobatch', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'write-batching', label: 'edge-agent --sshd-nodelay-exec, write batching off' },
  // single-threaded GC is applied by the agent itself (src/runtime-flags.ts): off = V8's default GC; the node flag itself for comparison
  { id: 'agent-aes-nd-nosgc', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'single-threaded-gc', label: 'edge-agent --sshd-nodelay-exec, V8 default GC (runtime flags off)' },
  { id: 'agent-aes-nd-sgc', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', nodeFlags: ['--single-threaded-gc'], label: 'edge-agent --sshd-nodelay-exec, node --single-threaded-gc' },
  // the upload data path (inbound packet pool + reused read buffer; target writes batched per turn)
  { id: 'agent-aes-nd-noinpool', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'inbound-pool', label: 'edge-agent --sshd-nodelay-exec, inbound pool off' },
  { id: 'agent-aes-nd-notwb', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'target-write-batching', label: 'edge-agent --sshd-nodelay-exec, target write batching off' },
  { id: 'agent-aes-nd-nodatapath', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'inbound-pool,target-write-batching', label: 'edge-agent --sshd-nodelay-exec, inbound pool and target batching off' },
  { id: 'agent-aes-fo-nodirect', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', disableLevers: 'channel-data-direct', label: 'edge-agent, channel data via the Readable (direct off)' },
  { id: 'agent-aes-nd-nodirect', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'channel-data-direct', label: 'edge-agent --sshd-nodelay-exec, channel data via the Readable (direct off)' },
  // the download data path (target reads into a reused buffer, outbound packets in recycled blocks)
  { id: 'agent-aes-fo-nodlpath', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', disableLevers: 'target-read-buffer,outbound-pool', label: 'edge-agent, download data path levers off' },
  { id: 'agent-aes-fo-wasmtf', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', disableLevers: 'wasm-baseline', label: 'edge-agent, WebAssembly TurboFan on (V8 default)' },
  { id: 'agent-http-aes-fo-wasmtf', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'http', disableLevers: 'wasm-baseline', label: 'edge-agent http:// target, WebAssembly TurboFan on (V8 default)' },
  { id: 'agent-aes-nd-nolevers', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'write-batching,padding-pool', label: 'edge-agent --sshd-nodelay-exec, batching and pool off' },
];
export const QUICK_IDS = ['direct', 'ssh-aes-fo', 'ssh-aes-nd', 'agent-aes-fo', 'agent-aes-nd', 'agent-http-aes-fo', 'agent-aes-nd-nobatch'];
export const isLeverVariant = (s: TunnelSpec) => s.disableLevers !== undefined || s.nodeFlags !== undefined;

/** --quick measures a few tunnels; --only REGEX the named tunnels plus the `ssh -R` each is compared with. */
export function selectSpecs(quick: boolean, only?: string): TunnelSpec[] {
  let specs = quick ? ALL_SPECS.filter((s) => QUICK_IDS.includes(s.id)) : ALL_SPECS;
  if (only) {
    const re = new RegExp(only);
    const chosen = ALL_SPECS.filter((s) => re.test(s.id));
    const bases = new Set(chosen.map(baselineOf).filter(Boolean));
    specs = ALL_SPECS.filter((s) => chosen.includes(s) || bases.has(s.id));
  }
  return specs;
}

/** The spec of one tunnel id (the fresh-process phases start their own). */
export const specById = (id: string): TunnelSpec => ALL_SPECS.find((s) => s.id === id)!;

/** The `ssh -R` a tunnel is compared with: same cipher, same condition. */
export function baselineOf(spec: TunnelSpec): string | null {
  if (spec.tool !== 'agent') return null;
  return `ssh-${spec.cipher === CHACHA ? 'chacha' : 'aes'}-${spec.condition === 'nodelay' ? 'nd' : 'fo'}`;
}
