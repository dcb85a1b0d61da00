/**
 * Gateway API: a rule whose backendRefs are all invalid (unknown kind, not permitted by a
 * ReferenceGrant, Service or port not found), or that has none and does not redirect, answers
 * 500, as the spec asks ("requests to an invalid backend must receive a 500"), instead of the
 * 503 of a valid backend without ready endpoints; a gRPC client gets UNAVAILABLE (14) as
 * GRPCRoute asks. The build sets it; no annotation.
 */
import type { z } from 'zod';
import type { LocalAnswer, PolicyModule, PolicyOutcome, RequestFacts, Zod } from './module.ts';
import { INVALID_BACKEND_GRPC } from './module.ts';

/** 500, and gRPC UNAVAILABLE for a gRPC client (GRPCRoute's answer for invalid backends). */
const ANSWER: LocalAnswer = { status: 500, headers: [], grpc: INVALID_BACKEND_GRPC };

/** Why the rule answers 500 (shown by explain). */
function backendErrorSchema(z: Zod) {
  return z.strictObject({ status: z.literal(500), reason: z.string().min(1).max(1024) });
}
export type BackendError = z.infer<ReturnType<typeof backendErrorSchema>>;

/** The module: answers 500 before anything else of the request is tried. */
export const backendErrorModule: PolicyModule<BackendError> = {
  key: 'backendError',
  phase: 'redirect',
  annotations: [],
  schema: backendErrorSchema,
  prepare() {
    return (_facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.answer = ANSWER;
    };
  },
  describe: (data) => `answers 500: ${data.reason}`,
};
