/**
 * Request bodies, strictly: a size limit enforced while reading (not only from Content-Length),
 * valid UTF-8, exactly one JSON value with nothing after it (JSON.parse refuses trailing
 * garbage), or exactly one YAML document where YAML is allowed; anything else is 400, 413 or 415
 * before a handler sees it.
 */
import type { Context } from 'hono';
import type { ParsedDocument, ParseFailure } from '../sources/manifests/bounded.ts';
import { API_BODY_LIMITS, describeFailure, parseJsonBounded } from '../sources/manifests/bounded.ts';
import { sharedParserThread } from '../sources/manifests/parser-thread.ts';
import { ApiError } from './problem.ts';

/** Default body limit: 1 MiB is far above any route and far below anything harmful. */
export const DEFAULT_BODY_LIMIT = API_BODY_LIMITS.maxBytes;

/** JSON bodies up to this size are parsed in place (linear, bounded, well under 1 ms); larger ones and all YAML in the parser thread. */
const INLINE_JSON_BYTES = 16 * 1024;

/** Deepest merge patch applied (bodies are already bounded by API_BODY_LIMITS.maxDepth). */
const MAX_PATCH_DEPTH = API_BODY_LIMITS.maxDepth;

/** Media types an endpoint reads. */
export type BodyFormat = 'json' | 'yaml' | 'merge-patch';

const MEDIA_TYPES: Record<string, BodyFormat> = {
  'application/json': 'json',
  'application/yaml': 'yaml',
  'application/x-yaml': 'yaml',
  'text/yaml': 'yaml',
  'application/merge-patch+json': 'merge-patch',
};

/** The media types of `formats`, for OpenAPI and error messages. */
export function mediaTypesOf(formats: readonly BodyFormat[]): string[] {
  return Object.entries(MEDIA_TYPES)
    .filter(([, format]) => formats.includes(format))
    .map(([type]) => type);
}

async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (cause) {
      // The client went away or sent a broken chunked body: its problem, not a server error.
      throw new ApiError('PORTICO_E_BAD_REQUEST', `the body could not be read: ${(cause as Error).message}`, { cause });
    }
    const { done, value } = chunk;
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): ApiError {
  return new ApiError('PORTICO_E_PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
}

function bad(message: string): ApiError {
  return new ApiError('PORTICO_E_BAD_REQUEST', message);
}

/**
 * Reads the body of `c` as one of `formats`; resolves with the parsed value and the format used.
 * Throws ApiError 415 (missing or other Content-Type, a charset other than UTF-8), 413, or 400.
 */
export async function readBody(c: Context, formats: readonly BodyFormat[], limit = DEFAULT_BODY_LIMIT): Promise<{ value: unknown; format: BodyFormat }> {
  const header = c.req.header('content-type') ?? '';
  const [type = '', ...params] = header.split(';').map((part) => part.trim().toLowerCase());
  const format = MEDIA_TYPES[type];
  if (format === undefined || !formats.includes(format)) {
    throw new ApiError('PORTICO_E_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${header === '' ? '(none)' : JSON.stringify(header)} is not accepted here; send ${mediaTypesOf(formats).join(' or ')}`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replaceAll('"', '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw new ApiError('PORTICO_E_UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not accepted; send UTF-8`);
  const bytes = await readLimited(c.req.raw, limit);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw bad('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw bad('the body is empty');
  // Off the event loop, linear, bounded: the largest allowed body never stalls traffic.
  const limits = { ...API_BODY_LIMITS, maxBytes: limit };
  // Small JSON (status reports, explain, most routes) costs well under a millisecond here; the
  // thread hop is for what could take longer.
  const documents = format !== 'yaml' && bytes.byteLength <= INLINE_JSON_BYTES ? [parseJsonBounded(text, limits)] : await sharedParserThread().parseDocuments(format === 'yaml' ? 'yaml' : 'json', text, limits);
  return { value: oneDocument(documents, format), format };
}

function refused(failure: ParseFailure, format: BodyFormat): ApiError {
  const what = format === 'yaml' ? 'YAML' : 'JSON';
  const errors = failure.pointer === undefined ? undefined : [{ pointer: failure.pointer, reason: failure.message }];
  if (failure.kind === 'limit') {
    if (failure.limit === 'bytes') return new ApiError('PORTICO_E_PAYLOAD_TOO_LARGE', `the body is too large: ${describeFailure(failure)}`);
    return new ApiError('PORTICO_E_BODY_LIMIT', `the body breaks the ${failure.limit} limit: ${describeFailure(failure)}`, errors ? { errors } : {});
  }
  if (failure.kind === 'duplicate-key') return new ApiError('PORTICO_E_BAD_REQUEST', `the body is not valid ${what}: ${describeFailure(failure)}`, errors ? { errors } : {});
  return bad(`the body is not ${format === 'yaml' ? 'valid YAML' : 'one valid JSON value'}: ${describeFailure(failure)}`);
}

function oneDocument(documents: readonly ParsedDocument[], format: BodyFormat): unknown {
  const failed = documents.find((document) => !document.ok);
  if (failed !== undefined && !failed.ok) throw refused(failed.failure, format);
  if (documents.length !== 1) throw bad(`the body must be exactly one YAML document, got ${documents.length}`);
  return (documents[0] as { value: unknown }).value;
}

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown, depth = 0): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  if (depth >= MAX_PATCH_DEPTH) throw new ApiError('PORTICO_E_BODY_LIMIT', `the merge patch is nested deeper than ${MAX_PATCH_DEPTH} levels`);
  const result: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty: a `__proto__` key stays data and never reaches the prototype.
    else Object.defineProperty(result, key, { value: mergePatch(result[key], value, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
