/**
 * Request bodies, strictly: a size limit enforced while reading (not only from Content-Length),
 * valid UTF-8, exactly one JSON value with nothing after it (JSON.parse refuses trailing
 * garbage), or exactly one YAML document where YAML is allowed; anything else is 400, 413 or 415
 * before a handler sees it.
 */
import type { Context } from 'hono';
import { parseAllDocuments } from 'yaml';
import { ApiError } from './problem.ts';

/** Default body limit: 1 MiB is far above any route and far below anything harmful. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

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
  if (format === 'yaml') return { value: parseYaml(text), format };
  try {
    return { value: JSON.parse(text), format };
  } catch (error) {
    throw bad(`the body is not one valid JSON value: ${(error as Error).message}`);
  }
}

function parseYaml(text: string): unknown {
  const docs = parseAllDocuments(text, { uniqueKeys: true, strict: true, prettyErrors: false });
  if (!Array.isArray(docs)) throw bad('the body is not valid YAML');
  const nonEmpty = docs.filter((doc) => doc.contents !== null || doc.errors.length > 0);
  if (nonEmpty.length !== 1) throw bad(`the body must be exactly one YAML document, got ${nonEmpty.length}`);
  const doc = nonEmpty[0]!;
  if (doc.errors.length > 0) throw bad(`the body is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  try {
    // A small alias budget: billion-laughs documents fail instead of exhausting memory.
    return doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    throw bad(`the body is not valid YAML: ${(error as Error).message}`);
  }
}

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty: a `__proto__` key stays data and never reaches the prototype.
    else Object.defineProperty(result, key, { value: mergePatch(result[key], value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
