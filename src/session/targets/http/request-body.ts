// The body of one incoming request as the Readable undici sends upstream. It pulls from the
// IncomingMessage only as fast as undici writes to the service (so a 1 GB upload streams with
// a few chunks in memory), enforces the forward's body size limit, tells the caller when
// undici first asks for bytes (the moment to answer `Expect: 100-continue`), and — unlike
// handing undici the IncomingMessage itself — can be destroyed by undici on an upstream
// failure without tearing down the client's connection, which may still get an answer.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export class RequestBodyTooLargeError extends Error {
  readonly code = 'EDGE_HTTP_BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

export class ClientAbortedError extends Error {
  readonly code = 'EDGE_HTTP_CLIENT_ABORTED';
  constructor(message = 'the client closed the connection before sending the whole request body') {
    super(message);
  }
}

export interface RequestBodyOptions {
  /** 0 = no limit. */
  maxBytes: number;
  /** Called once, when undici first reads (the request is being written to the service). */
  onFirstRead?: () => void;
}

export class RequestBodyStream extends Readable {
  /** Bytes taken from the client so far. */
  bytes = 0;
  private started = false;
  private finished = false;
  private readonly req: IncomingMessage;
  private readonly options: RequestBodyOptions;

  private readonly onData = (chunk: Buffer) => {
    this.bytes += chunk.length;
    if (this.options.maxBytes > 0 && this.bytes > this.options.maxBytes) {
      this.detach();
      this.destroy(new RequestBodyTooLargeError(this.options.maxBytes));
      return;
    }
    if (!this.push(chunk)) this.req.pause();
  };

  private readonly onEnd = () => {
    this.finished = true;
    this.detach();
    this.push(null);
  };

  private readonly onAbort = () => {
    if (this.finished) return;
    this.detach();
    this.destroy(new ClientAbortedError());
  };

  constructor(req: IncomingMessage, options: RequestBodyOptions) {
    super({ highWaterMark: 64 * 1024 });
    this.req = req;
    this.options = options;
  }

  /** True once the client's body was read to its end. */
  get complete(): boolean {
    return this.finished;
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.options.onFirstRead?.();
      this.req.on('data', this.onData);
      this.req.on('end', this.onEnd);
      this.req.on('aborted', this.onAbort);
      this.req.on('error', this.onAbort);
      this.req.on('close', this.onAbort);
    }
    this.req.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.detach();
    callback(error);
  }

  private detach(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('aborted', this.onAbort);
    this.req.off('error', this.onAbort);
    this.req.off('close', this.onAbort);
  }
}
