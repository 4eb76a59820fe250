// Turns a session's lifecycle into OpenTelemetry spans, through @opentelemetry/api only (the
// SDK and exporters are set up in telemetry/): one `ssh.connect` per connection attempt, one
// `ssh.forward.request` per tcpip-forward request, one `tunnel.channel` (SERVER) per channel
// from accept — or rejection — to close, for remote (-R) channels and for connections to local
// (-L) and dynamic (-D) listeners alike (attribute edge_agent.direction). With no SDK
// registered every call is a no-op.
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR, SPAN, TRACER_NAME } from '../../telemetry/semconv.js';
import type { ChannelInfo, TunnelSession } from './tunnel-session.js';
import { VERSION } from '../version.js';

export class SessionTracing {
  private readonly tracer: Tracer;
  private readonly channels = new Map<number, Span>();
  private readonly forwardRequests = new Map<string, Span>();
  private connectSpan: Span | undefined;

  constructor(private readonly session: TunnelSession, tracer: Tracer = trace.getTracer(TRACER_NAME, VERSION)) {
    this.tracer = tracer;
    const sessionId = session.config.id;
    const server = { [ATTR.serverAddress]: session.config.host, [ATTR.serverPort]: session.config.port, [ATTR.sessionId]: sessionId };

    session.on('state', (state) => {
      if (state === 'connecting') {
        this.endConnect('aborted');
        const proxy = session.status().proxy;
        this.connectSpan = this.tracer.startSpan(SPAN.connect, { kind: SpanKind.CLIENT, attributes: { ...server, [ATTR.attempt]: session.status().attempt, ...(proxy ? { [ATTR.proxy]: proxy.configured } : {}) } });
      } else if (state === 'stopped') {
        this.endConnect('aborted');
        for (const span of this.forwardRequests.values()) span.end();
        this.forwardRequests.clear();
      }
    });
    session.on('connected', (info) => {
      const route = session.status().proxy?.route;
      if (route) this.connectSpan?.setAttribute(ATTR.proxy, route);
      this.connectSpan?.setAttributes({
        [ATTR.serverBanner]: info.serverBanner,
        [ATTR.hostKeyFingerprint]: info.hostKeyFingerprint,
        [ATTR.hostKeyVerifiedBy]: info.hostKeyVerifiedBy,
      });
      this.endConnect('connected');
    });
    session.on('connectFailed', ({ error }) => this.endConnect('failed', error.code, error.message));

    session.on('forwardRequest', ({ forwardId, bind, port }) => {
      this.forwardRequests.get(forwardId)?.end();
      this.forwardRequests.set(forwardId, this.tracer.startSpan(SPAN.forwardRequest, {
        kind: SpanKind.CLIENT,
        attributes: { ...server, [ATTR.forwardId]: forwardId, [ATTR.bindAddress]: bind, [ATTR.requestedPort]: port },
      }));
    });
    session.on('forward', (status) => {
      const span = this.forwardRequests.get(status.id);
      if (!span || status.state === 'pending') return;
      this.forwardRequests.delete(status.id);
      span.setAttribute(ATTR.outcome, status.state);
      if (status.remotePort !== null) span.setAttribute(ATTR.remotePort, status.remotePort);
      if (status.state !== 'up' && status.lastError) {
        span.setAttribute(ATTR.errorType, status.lastError.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: status.lastError.message });
      }
      span.end();
    });

    session.on('channelOpen', (info) => {
      this.channels.set(info.id, this.tracer.startSpan(SPAN.channel, { kind: SpanKind.SERVER, attributes: channelAttributes(info) }));
    });
    session.on('channelClose', (info) => {
      const span = this.channels.get(info.id);
      if (!span) return;
      this.channels.delete(info.id);
      span.setAttributes({ [ATTR.bytesIn]: info.bytesIn, [ATTR.bytesOut]: info.bytesOut, [ATTR.closeReason]: info.reason });
      if (info.error || info.reason === 'target-error' || info.reason === 'channel-error') {
        const code = (info.error as { code?: string } | undefined)?.code ?? info.reason;
        span.setAttribute(ATTR.errorType, code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: info.error?.message });
      }
      span.end();
    });
    session.on('channelRejected', (info) => {
      const span = this.tracer.startSpan(SPAN.channel, { kind: SpanKind.SERVER, attributes: { ...channelAttributes(info), [ATTR.rejectReason]: info.reason, [ATTR.closeReason]: info.reason } });
      span.setAttribute(ATTR.errorType, info.error?.code ?? info.reason);
      span.setStatus({ code: SpanStatusCode.ERROR, message: info.error?.message ?? `channel rejected: ${info.reason}` });
      span.end();
    });
  }

  /** The channel's span as a parent context, for spans the channel's handler starts (HTTP requests). */
  contextFor(channelId: number): Context | undefined {
    const span = this.channels.get(channelId);
    return span ? trace.setSpan(context.active(), span) : undefined;
  }

  private endConnect(outcome: string, errorType?: string, message?: string): void {
    const span = this.connectSpan;
    if (!span) return;
    this.connectSpan = undefined;
    span.setAttribute(ATTR.outcome, outcome);
    if (errorType) {
      span.setAttribute(ATTR.errorType, errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    span.end();
  }
}

function channelAttributes(info: ChannelInfo) {
  return {
    [ATTR.sessionId]: info.sessionId,
    [ATTR.forwardId]: info.forwardId,
    [ATTR.channelId]: info.id,
    [ATTR.direction]: info.direction ?? 'remote',
    [ATTR.networkPeerAddress]: info.originAddress,
    [ATTR.networkPeerPort]: info.originPort,
    [ATTR.networkTransport]: 'tcp',
    [ATTR.serverAddress]: info.connectedAddress,
    [ATTR.serverPort]: info.connectedPort,
    [ATTR.bindAddress]: info.bind,
    [ATTR.requestedPort]: info.requestedPort,
    [ATTR.remotePort]: info.connectedPort,
    [ATTR.target]: info.target ?? '(application)',
  };
}
