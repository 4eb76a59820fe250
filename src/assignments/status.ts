// The `assignments` part of /status: where the running sessions came from, which revision runs,
// what went wrong last, which forwards the local policy refused, and (with assignments.url) how
// polling the fleet endpoint is going. Types only: agent.ts and the controller fill them in.
import type { ClampedValue } from '../../config/document-policy.js';
import type { RefusedForward } from '../../config/validate-sessions.js';

export type { ClampedValue, RefusedForward };

/** Where the running assignment came from. */
export type AssignmentSourceKind = 'static' | 'remote' | 'cache';

/** What kind of problem `lastError` is. */
export type AssignmentErrorKind =
  /** The endpoint could not be reached (DNS, refused, reset, TLS). Retried with backoff. */
  | 'fetch'
  /** Connect or response timeout. Retried with backoff. */
  | 'timeout'
  /** The endpoint answered with an error status (4xx/5xx) or an unexpected one. Retried with backoff (or after Retry-After). */
  | 'http'
  /** Missing or bad signature (assignments.signingPublicKey is set). The document is rejected. */
  | 'signature'
  /** Not UTF-8 JSON, schema or semantic errors (listed in `errors`), or a session that cannot start. The document is rejected. */
  | 'invalid'
  /** A revision lower than (or equal to, with other content) the running one or the revision floor. Ignored. */
  | 'stale'
  /** Past its `expires` time. Not applied. */
  | 'expired'
  /** More sessions, forwards or channels than policy.maxSessions / maxForwardsPerSession / maxChannelsPerForward. Rejected whole. */
  | 'budget'
  /** A key only the local config may set (algorithms, insecure flags, local files outside policy). Rejected whole. */
  | 'policy';

export interface AssignmentError {
  /** An EDGE_ERR_* code. */
  code: string;
  message: string;
  kind?: AssignmentErrorKind;
  /** Every validation error, each `path: message`. */
  errors?: string[];
  /** The HTTP status, for `http` errors. */
  httpStatus?: number;
  /** The document's revision, when it could be read. */
  revision?: number;
  /** ISO time. */
  at?: string;
}

export type FetchOutcome =
  /** A newer revision was applied. */
  | 'applied'
  /** The same revision and content as the running one (an endpoint without ETags). */
  | 'unchanged'
  /** 304: the endpoint confirmed the running document. */
  | 'not-modified'
  | 'stale'
  | 'rejected'
  | 'error';

export interface LastFetch {
  /** ISO time the request started. */
  at: string;
  trigger: 'poll' | 'manual';
  outcome: FetchOutcome;
  httpStatus: number | null;
  durationMs: number;
  /** Revision of the document received, when there was one that could be read. */
  revision: number | null;
}

export interface FetchCounters {
  /** Requests sent. */
  requests: number;
  /** 200 answers with a body. */
  documents: number;
  /** 304 answers. */
  notModified: number;
  /** Network errors, timeouts and error statuses. */
  errors: number;
  /** Documents rejected (signature, JSON, schema, policy of the whole document, start failure). */
  rejected: number;
  /** Documents applied. */
  applied: number;
  /** Errors in a row, driving the backoff (0 after any answer). */
  consecutiveErrors: number;
}

export interface CacheStatus {
  file: string;
  /** Revision of a valid cache file found at start, else null. */
  loadedRevision: number | null;
  /** ISO time of the last successful write. */
  lastWriteAt: string | null;
  /** Why the cache file could not be read or written (the agent runs on either way). */
  lastError: string | null;
}

export interface AssignmentsStatus {
  source: AssignmentSourceKind;
  revision: number | null;
  lastError: AssignmentError | null;
  /** Forwards of the running document that the local policy refused (the rest of the document runs). */
  refusedForwards: RefusedForward[];
  /** HTTP settings of the running document lowered to the local ceilings (policy.maxHttp*); absent before any document. */
  clampedValues?: ClampedValue[];
  /** The fleet endpoint (scheme, host and path only: no credentials, no query), when assignments.url is set. */
  endpoint?: string;
  /** Whether documents must be signed (assignments.signingPublicKey is set). */
  signed?: boolean;
  lastFetch?: LastFetch | null;
  /** ISO time of the next scheduled poll. */
  nextPollAt?: string | null;
  fetches?: FetchCounters;
  cache?: CacheStatus | null;
}
