// Tracing inside a session's worker thread. With tracing on, the OpenTelemetry SDK is loaded
// (worker-tracing-sdk.ts) and finished spans are posted to the main thread; with it off,
// nothing is loaded and domain code's @opentelemetry/api calls stay no-ops — a worker then does
// not pay the SDK's memory and start-up time.
import { importSibling } from '../src/import-sibling.js';
import type { PlainSpan } from './plain-span.js';

export interface WorkerTracing {
  /** Sends every span still buffered to the main thread. */
  flush(): Promise<void>;
}

const OFF: WorkerTracing = { flush: async () => {} };

export async function installWorkerTracing(enabled: boolean, send: (spans: PlainSpan[]) => void): Promise<WorkerTracing> {
  if (!enabled) return OFF;
  const { installSdkTracing } = await importSibling(import.meta.url, './worker-tracing-sdk', () => import('./worker-tracing-sdk.js'));
  return installSdkTracing(send);
}
