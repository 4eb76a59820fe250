// telemetry/semconv.ts writes the OpenTelemetry semantic-convention names out (the package is
// too heavy to load in every session worker); they must stay the package's names.
import * as semconv from '@opentelemetry/semantic-conventions';
import { describe, expect, it } from 'vitest';
import { ATTR, RESOURCE_ATTR } from '../../telemetry/semconv.js';

describe('telemetry/semconv.ts', () => {
  it('spells the semantic-convention attributes as @opentelemetry/semantic-conventions does', () => {
    expect(ATTR.networkPeerAddress).toBe(semconv.ATTR_NETWORK_PEER_ADDRESS);
    expect(ATTR.networkPeerPort).toBe(semconv.ATTR_NETWORK_PEER_PORT);
    expect(ATTR.networkTransport).toBe(semconv.ATTR_NETWORK_TRANSPORT);
    expect(ATTR.serverAddress).toBe(semconv.ATTR_SERVER_ADDRESS);
    expect(ATTR.serverPort).toBe(semconv.ATTR_SERVER_PORT);
    expect(ATTR.errorType).toBe(semconv.ATTR_ERROR_TYPE);
    expect(RESOURCE_ATTR).toEqual({ serviceName: semconv.ATTR_SERVICE_NAME, serviceVersion: semconv.ATTR_SERVICE_VERSION, serviceInstanceId: semconv.ATTR_SERVICE_INSTANCE_ID });
  });
});
