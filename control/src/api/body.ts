/**
 * Request bodies, strictly: a size limit enforced while reading (not only from Content-Length),
 * valid UTF-8, exactly one JSON value with nothing after it (JSON.parse refuses trailing
 * garbage), or exactly one YAML document where YAML is allowed; anything else is 400, 413 or 415
 * before a handler sees it.
 */
import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { ParsedDocument, ParseFailure } from '../sources/manifests/bounded.ts';
import { API_BODY_LIMITS, describeFailure, parseJsonBounded } from '../sources/manifests/bounded.ts';
import { sharedParserThread } from '../sources/manifests/parser-thread.ts';
import { ApiError } from './problem.ts';

/** Default body limit: 1 MiB is far above any route and far below anything harmful. */
export const DEFAULT_BODY_LIMIT = API_BODY_LIMITS.maxBytes;

/** Longest a body may take to arrive once its headers are in; a slower one is answered 408. */
export const DEFAULT_BODY_DEADLINE_MS = 30_000;

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

/**
 * The body as bytes, at most `limit` of them, within `deadlineMs`. Under @hono/node-server the
 * bytes are read from the Node request itself (`c.env.incoming`): a web Request and its stream
 * are never built, which on the ACK path (100 nodes × every version) was a measurable share of
 * the control plane's CPU. Elsewhere (app.request in tests, other runtimes) the web body is read,
 * with the same limit, deadline and errors.
 */
async function readLimited(c: Context, limit: number, deadlineMs: number): Promise<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  const incoming = nodeIncoming(c);
  return incoming === undefined ? readWebBody(c.req.raw, limit, deadlineMs) : readIncoming(incoming, limit, deadlineMs);
}

/** The Node request of `c` if its body is still unread (HTTP/1.1 under @hono/node-server), else undefined. */
function nodeIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  return incoming instanceof IncomingMessage && !incoming.readableDidRead && !incoming.readableEnded ? incoming : undefined;
}

function readIncoming(incoming: IncomingMessage, limit: number, deadlineMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: ApiError | undefined): void => {
      clearTimeout(timer);
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (error === undefined) {
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
        return;
      }
      // What is left unread is drained (bounded) or the connection closed by the adapter once answered.
      incoming.pause();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > limit) finish(tooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    // The client went away or sent a broken chunked body: its problem, not a server error.
    const onError = (cause: Error): void => finish(new ApiError('PORTICO_E_BAD_REQUEST', `the body could not be read: ${cause.message}`, { cause }));
    const onClose = (): void => {
      if (!incoming.complete) finish(new ApiError('PORTICO_E_BAD_REQUEST', 'the body could not be read: the client closed the connection'));
    };
    const timer = setTimeout(() => finish(tooSlow(deadlineMs)), deadlineMs);
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
    incoming.resume();
  });
}

async function readWebBody(request: Request, limit: number, deadlineMs: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(tooSlow(deadlineMs)), deadlineMs);
  });
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), deadline]);
      } catch (cause) {
        await reader.cancel().catch(() => undefined);
        if (cause instanceof ApiError) throw cause;
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
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}

function tooSlow(deadlineMs: number): ApiError {
  return new ApiError('PORTICO_E_BAD_REQUEST', `the body did not arrive within ${deadlineMs} ms`, { status: 408 });
}

function tooLarge(limit: number): ApiError {
  return new ApiError('PORTICO_E_PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
}

function bad(message: string): ApiError {
  return new ApiError('PORTICO_E_BAD_REQUEST', message);
}

/**
 * Reads the body of `c` as one of `formats`; resolves with the parsed value and the format used.
 * Throws ApiError 415 (missing or other Content-Type, a charset other than UTF-8), 413, 408 (the
 * body took longer than `deadlineMs`), or 400.
 */
export async function readBody(c: Context, formats: readonly BodyFormat[], limit = DEFAULT_BODY_LIMIT, deadlineMs = DEFAULT_BODY_DEADLINE_MS): Promise<{ value: unknown; format: BodyFormat }> {
  const header = c.req.header('content-type') ?? '';
  const [type = '', ...params] = header.split(';').map((part) => part.trim().toLowerCase());
  const format = MEDIA_TYPES[type];
  if (format === undefined || !formats.includes(format)) {
    throw new ApiError('PORTICO_E_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${header === '' ? '(none)' : JSON.stringify(header)} is not accepted here; send ${mediaTypesOf(formats).join(' or ')}`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replaceAll('"', '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw new ApiError('PORTICO_E_UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not accepted; send UTF-8`);
  const bytes = await readLimited(c, limit, deadlineMs);
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
