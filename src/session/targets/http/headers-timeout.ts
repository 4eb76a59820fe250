// The forward's `headersTimeoutMs`: how long the service may take, once the whole request has
// been sent, before its response head arrives. Kept here rather than left to undici, whose
// request timers tick every half second (a 600 ms limit could fire after 500 ms or 1 s);
// this one is an ordinary timer, so the 504 comes when the setting says.
export class HeadersTimeoutError extends Error {
  readonly code = 'EDGE_HTTP_HEADERS_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`no response head within ${timeoutMs} ms`);
  }
}

export interface HeadersDeadline {
  /** (Re)starts the clock: the request has been sent. */
  start(): void;
  /** Stops it: the head arrived, or the request ended otherwise. */
  stop(): void;
}

/** A deadline that calls `expire` after `timeoutMs` (0 = never) from the last start(). */
export function headersDeadline(timeoutMs: number, expire: (error: HeadersTimeoutError) => void): HeadersDeadline {
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      clearTimeout(timer);
      if (timeoutMs > 0) timer = setTimeout(() => expire(new HeadersTimeoutError(timeoutMs)), timeoutMs);
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
