import { describe, expect, it } from 'vitest';
import { GRPC_DEADLINE_EXCEEDED, GRPC_UNAVAILABLE, GRPC_UNIMPLEMENTED, grpcErrorHeaders, grpcStatusOf, isGrpcContentType, parseGrpcTimeout } from './grpc.ts';

describe('grpc-timeout', () => {
  it.each([
    ['100m', 100],
    ['5S', 5000],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['1500u', 2],
    ['1n', 1],
    ['99999999m', 99_999_999],
  ])('%s is %i ms', (value, ms) => expect(parseGrpcTimeout(value)).toBe(ms));

  it.each([undefined, '', 'm', '100', '100x', '-1S', '1.5S', '123456789S', ' 1S', '1s'])('hostile: %j is ignored (-1)', (value) => expect(parseGrpcTimeout(value)).toBe(-1));
});

describe('Portico answers as gRPC statuses', () => {
  it.each([
    [502, GRPC_UNAVAILABLE],
    [503, GRPC_UNAVAILABLE],
    [504, GRPC_DEADLINE_EXCEEDED],
    [404, GRPC_UNIMPLEMENTED],
  ])('HTTP %i is gRPC %i, trailers-only with a message naming Portico', (http, grpc) => {
    expect(grpcStatusOf(http)).toBe(grpc);
    const headers = grpcErrorHeaders(http);
    expect(headers).toMatchObject({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpc) });
    expect(decodeURIComponent(String(headers['grpc-message']))).toContain('Portico');
  });

  it('knows a gRPC call by its content-type', () => {
    expect(['application/grpc', 'application/grpc+proto', 'Application/GRPC-web'].map(isGrpcContentType)).toEqual([true, true, true]);
    expect(['application/json', 'application/gr', undefined].map(isGrpcContentType)).toEqual([false, false, false]);
  });
});
