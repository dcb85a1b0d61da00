/**
 * Parsing of kubectl-style manifest text (YAML multi-document or JSON, `List` kinds included)
 * into validated objects. Bad documents become problems; the good ones in the same text still load.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { KubeObject } from '../../state/objects.ts';
import { GATEWAY_GROUP, Gateway, GatewayClass, GRPCRoute, HTTPRoute, Namespace, ReferenceGrant } from '../../state/gateway-objects.ts';
import { CLUSTER_SCOPED_KINDS, ConfigMap, EndpointSlice, Ingress, IngressClass, Secret, Service, retainedConfigMap, retainedSecret } from '../../state/objects.ts';
import type { ParsedDocument, ParseFailure, ParseLimits } from './bounded.ts';
import type { JsonListSpans } from './bounded.ts';
import { describeFailure, MANIFEST_FILE_LIMITS, manifestLimits, parseJsonBounded, parseYamlBounded, scanJsonList, yamlPrecheck } from './bounded.ts';
import { convertLegacyIngress, LEGACY_INGRESS_VERSIONS } from './legacy.ts';

/** Something wrong (or worth saying) about one document of one manifest file. */
export interface ManifestProblem {
  readonly severity: 'error' | 'warning';
  /** `PORTICO_E_MANIFEST_APPLY`: what was read could not be applied (a bug, never bad input; retried at each scan). */
  readonly code: 'PORTICO_E_MANIFEST_READ' | 'PORTICO_E_MANIFEST_PARSE' | 'PORTICO_E_MANIFEST_SCHEMA' | 'PORTICO_E_MANIFEST_APPLY' | 'PORTICO_W_MANIFEST_IGNORED' | 'PORTICO_W_LEGACY_API' | 'PORTICO_W_MANIFEST_EMPTY';
  readonly file: string;
  /** 0-based index of the document in the file (items of a `List` count as their own documents). */
  readonly document: number;
  /** Dotted field path inside the document, when the problem is about one field. */
  readonly field?: string;
  /** 1-based line and column in the file, when known (syntax errors, duplicate keys, limits). */
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** Objects and problems found in one or more manifest files. */
export interface ManifestParseResult {
  readonly objects: KubeObject[];
  readonly problems: ManifestProblem[];
}

const SCHEMAS: Record<string, z.ZodType<KubeObject>> = {
  'networking.k8s.io/v1 Ingress': Ingress,
  'networking.k8s.io/v1 IngressClass': IngressClass,
  'v1 Service': Service,
  'discovery.k8s.io/v1 EndpointSlice': EndpointSlice,
  'v1 Secret': Secret,
  'v1 ConfigMap': ConfigMap,
  'v1 Namespace': Namespace,
  [`${GATEWAY_GROUP}/v1 GatewayClass`]: GatewayClass,
  [`${GATEWAY_GROUP}/v1 Gateway`]: Gateway,
  [`${GATEWAY_GROUP}/v1 HTTPRoute`]: HTTPRoute,
  [`${GATEWAY_GROUP}/v1 GRPCRoute`]: GRPCRoute,
  [`${GATEWAY_GROUP}/v1beta1 ReferenceGrant`]: ReferenceGrant,
  [`${GATEWAY_GROUP}/v1 ReferenceGrant`]: ReferenceGrant,
};

/** Renders a zod issue path as `spec.rules[0].http.paths[1].pathType`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Whether `value` is a plain object (a mapping), not an array or null. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The problem for a document that could not be parsed. */
function parseProblem(failure: ParseFailure, file: string, document: number): ManifestProblem {
  const what = failure.kind === 'limit' ? `refused (limit: ${failure.limit})` : failure.kind === 'duplicate-key' ? 'duplicate key' : 'syntax error';
  return {
    severity: 'error',
    code: 'PORTICO_E_MANIFEST_PARSE',
    file,
    document,
    ...(failure.line === undefined ? {} : { line: failure.line, column: failure.column ?? 1 }),
    message: `${what}: ${describeFailure(failure)}`,
  };
}

/**
 * Parses the text of one file; `file` only names it in problems. JSON is parsed as YAML 1.2, its
 * superset, except a `.json` file that is valid JSON, which takes the (much faster) JSON path.
 * Bounded by `limits` (default by extension: manifestLimits) and linear in the text; never throws.
 */
export function parseManifestText(text: string, file: string, limits: ParseLimits = manifestLimits(file)): ManifestParseResult {
  const objects: KubeObject[] = [];
  const problems: ManifestProblem[] = [];
  eachDocument(text, file, limits, problems, (value, document) => acceptDocument(value, file, document, objects, problems));
  return { objects, problems };
}

/** One object of a file parsed by parseManifestKnown. */
export interface KnownEntry {
  /**
   * The fingerprint of the document it came from, when that document gave exactly this object and
   * no problem (only such documents are ever skipped); absent otherwise.
   */
  readonly fingerprint?: string;
  /** The object; absent when `fingerprint` was known: the caller holds the object it gave before. */
  readonly object?: KubeObject;
}

/** What parseManifestKnown found: the file's objects in order, and every problem. */
export interface KnownParseResult {
  readonly entries: KnownEntry[];
  readonly problems: ManifestProblem[];
}

/**
 * The fingerprint of a parsed document: a SHA-256 of its JSON text, so equal fingerprints mean
 * equal documents (keys in the same order), which validate to equal objects. Undefined for a
 * document JSON cannot tell apart from another (a YAML `.inf`, `.nan` or `-0` prints like `null`
 * or `0`): such a document is always validated.
 */
export function documentFingerprint(value: unknown): string | undefined {
  let exact = true;
  const json = JSON.stringify(value, (_key, field: unknown) => {
    if (typeof field === 'number' && (!Number.isFinite(field) || Object.is(field, -0))) exact = false;
    return field;
  });
  return exact && json !== undefined ? createHash('sha256').update(json).digest('base64') : undefined;
}

/** The fingerprints whose documents the caller holds: a Set, or any map keyed by them (the parser thread's index of its job's list). */
export interface KnownFingerprints {
  has(fingerprint: string): boolean;
  keys(): Iterable<string>;
}

/**
 * parseManifestText, except that a document whose fingerprint is in `known` (one that gave exactly
 * one object and no problem before) is not validated again and its object is not returned: its
 * entry holds only the fingerprint. Parsing, limits, duplicate keys and the problems of every
 * other document are exactly parseManifestText's, so mapping the entries back to the objects they
 * name gives what parseManifestText gives. This is what keeps an edit of one Ingress in a file of
 * thousands from re-validating, copying across threads and comparing every one of them.
 */
export function parseManifestKnown(text: string, file: string, limits: ParseLimits, known: KnownFingerprints): KnownParseResult {
  const partial = /\.json$/i.test(file) ? knownJsonList(text, file, limits, known) : knownYamlDocuments(text, file, limits, known);
  if (partial !== undefined) return partial;
  const entries: KnownEntry[] = [];
  const problems: ManifestProblem[] = [];
  eachDocument(text, file, limits, problems, (value, document) => {
    const fingerprint = documentFingerprint(value);
    if (fingerprint !== undefined && known.has(fingerprint)) {
      entries.push({ fingerprint });
      return;
    }
    acceptKnownDocument(value, file, document, fingerprint, entries, problems);
  });
  return { entries, problems };
}

/**
 * The item spans of `text` when it is a kubectl `List` in plain JSON: scanned within `limits`
 * (parseJsonBounded's size, duplicate-key and limit scan), only JSON separators between the
 * items, and a root that parses (with `items` emptied) to an object of kind `List` with an
 * `items` array. Undefined when it is anything else (the caller takes the full parse).
 */
export function jsonListSpans(text: string, limits: ParseLimits): JsonListSpans | undefined {
  const { failure, spans } = scanJsonList(text, limits);
  if (failure !== undefined || !spans.complete || spans.open < 0 || spans.close < 0 || !separatorsOnly(text, spans)) return undefined;
  let root: unknown;
  try {
    root = JSON.parse(text.slice(0, spans.open + 1) + text.slice(spans.close));
  } catch {
    return undefined;
  }
  if (!isRecord(root) || root.kind !== 'List' || !Array.isArray(root.items)) return undefined;
  return spans;
}

/** Whether the text around a List's item spans is JSON's separators alone: `[`, whitespace, one comma between items, `]`. */
export function separatorsOnly(text: string, spans: JsonListSpans): boolean {
  const ws = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  let at = spans.open + 1;
  for (let k = 0; k <= spans.items.length; k += 2) {
    const end = k < spans.items.length ? spans.items[k]! : spans.close;
    let commas = 0;
    for (; at < end; at++) {
      const c = text.charCodeAt(at);
      if (c === 0x2c) commas++;
      else if (!ws(c)) return false;
    }
    // One comma before every item but the first, none before the `]`.
    if (commas !== (k > 0 && k < spans.items.length ? 1 : 0)) return false;
    at = spans.items[k + 1] ?? at;
  }
  return true;
}

/**
 * parseManifestKnown for a `.json` kubectl `List` whose text is valid JSON: each item is
 * fingerprinted by its source text (`t:` + SHA-256) and only items not `known` are parsed at all,
 * each alone. The whole text still goes through parseJsonBounded's size, duplicate-key and limit
 * scan; the root with an empty `items`, every parsed item and the separators between items being
 * valid JSON makes the whole text valid JSON, and an item's text (JSON has no references) gives
 * the value the whole parse gives it. Undefined when the text is not such a List or anything fails
 * (the caller then takes the full parse, which reports the problem exactly).
 */
function knownJsonList(text: string, file: string, limits: ParseLimits, known: KnownFingerprints): KnownParseResult | undefined {
  const spans = jsonListSpans(text, limits);
  if (spans === undefined) return undefined;
  const entries: KnownEntry[] = [];
  const problems: ManifestProblem[] = [];
  for (let k = 0; k < spans.items.length; k += 2) {
    const source = text.slice(spans.items[k], spans.items[k + 1]);
    const fingerprint = `t:${createHash('sha256').update(source).digest('base64')}`;
    if (known.has(fingerprint)) {
      entries.push({ fingerprint });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch {
      return undefined;
    }
    acceptKnownDocument(value, file, k / 2, fingerprint, entries, problems);
  }
  return { entries, problems };
}

/**
 * A line that starts with `---`, `...` or `%` (a document marker or a directive), to its end. A
 * line starts after `\n` or `\r` (YAML's line breaks), not after U+2028/U+2029 (which `^` in a
 * multiline pattern would also take, and YAML does not).
 */
const MARKER_LINE = /(?<![^\n\r])(?:---|\.\.\.|%)[^\n]*/g;

/**
 * Where the documents of YAML text are, split at its `---` lines: start and end (exclusive) offset
 * of each, in pairs, the marker lines left out. Undefined when the text is not plain enough for a
 * document parsed alone to be what the whole parse makes of it: a directive (`%YAML`, `%TAG`), an
 * explicit document end (`...`), or a marker line carrying anything more (`--- |`, `--- !tag`,
 * `---\rx`; `---` then CRLF is a marker line). A `---` at the start of a line always ends a document in YAML (inside a block scalar
 * or a quoted one too), so the split is the parser's own.
 */
export function yamlDocumentSpans(text: string): number[] | undefined {
  const spans: number[] = [0];
  MARKER_LINE.lastIndex = 0;
  for (let match = MARKER_LINE.exec(text); match !== null; match = MARKER_LINE.exec(text)) {
    // `---` and its line break (`\n`, or `\r\n`: the `\r` is in the match).
    if (match[0] !== '---' && match[0] !== '---\r') return undefined;
    spans.push(match.index, Math.min(text.length, match.index + match[0].length + 1));
  }
  spans.push(text.length);
  return spans;
}

/**
 * parseManifestKnown for YAML text: each document is fingerprinted by its source text (`y:` +
 * SHA-256 + its key count) and only documents not `known` are parsed, each alone. The whole text
 * still gets parseYamlBounded's size and prescan checks, and the known documents' key counts add
 * to the parsed ones' against the keys limit. A document's text gives the value the whole parse
 * gives it (documents share nothing but directives, which make the text not plain). Undefined —
 * the caller takes the full parse, whose problems and file:line:column are exact — when the text
 * is not plain (yamlDocumentSpans), a check fails, or any parsed document has a syntax error,
 * a duplicate key or breaks a limit.
 */
function knownYamlDocuments(text: string, file: string, limits: ParseLimits, known: KnownFingerprints): KnownParseResult | undefined {
  if (yamlPrecheck(text, limits) !== undefined) return undefined;
  const spans = yamlDocumentSpans(text);
  if (spans === undefined) return undefined;
  // Text fingerprints carry the document's key count (the keys limit is on the whole text): known ones by their hash.
  const byHash = new Map<string, { readonly fingerprint: string; readonly keys: number }>();
  for (const fingerprint of known.keys()) {
    if (!fingerprint.startsWith('y:')) continue;
    const colon = fingerprint.lastIndexOf(':');
    byHash.set(fingerprint.slice(2, colon), { fingerprint, keys: Number(fingerprint.slice(colon + 1)) });
  }
  const entries: KnownEntry[] = [];
  const problems: ManifestProblem[] = [];
  const counter = { keys: 0 };
  let index = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const source = text.slice(spans[k], spans[k + 1]);
    const hash = createHash('sha256').update(source).digest('base64');
    const skipped = byHash.get(hash);
    if (skipped !== undefined) {
      counter.keys += skipped.keys;
      if (counter.keys > limits.maxKeys) return undefined;
      entries.push({ fingerprint: skipped.fingerprint });
      index++;
      continue;
    }
    const before = counter.keys;
    const documents = parseYamlBounded(source, limits, counter);
    if (counter.keys > limits.maxKeys) return undefined;
    for (const document of documents) {
      if (!document.ok) return undefined;
      const value = document.value;
      if (value === null || value === undefined) continue;
      if (isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
        for (const item of value.items) {
          const fingerprint = documentFingerprint(item);
          if (fingerprint !== undefined && known.has(fingerprint)) entries.push({ fingerprint });
          else acceptKnownDocument(item, file, index, fingerprint, entries, problems);
          index++;
        }
        continue;
      }
      acceptKnownDocument(value, file, index++, `y:${hash}:${counter.keys - before}`, entries, problems);
    }
  }
  return { entries, problems };
}

/** acceptDocument for parseManifestKnown: the document's objects as entries, carrying `fingerprint` when it gave exactly one object and no problem. */
export function acceptKnownDocument(value: unknown, file: string, document: number, fingerprint: string | undefined, entries: KnownEntry[], problems: ManifestProblem[]): void {
  const objects: KubeObject[] = [];
  const before = problems.length;
  acceptDocument(value, file, document, objects, problems);
  const clean = problems.length === before && objects.length === 1 && fingerprint !== undefined;
  for (const object of objects) entries.push(clean ? { fingerprint, object } : { object });
}

/** Calls `visit` with each document of the text (each item of a `List`) and its index; documents that cannot be parsed become problems. */
function eachDocument(text: string, file: string, limits: ParseLimits, problems: ManifestProblem[], visit: (value: unknown, document: number) => void): void {
  let documents: readonly ParsedDocument[] | undefined;
  if (/\.json$/i.test(file)) {
    const json = parseJsonBounded(text, limits);
    // Not JSON after all (comments, a stream of objects): YAML, JSON's superset, decides, within YAML's own limits.
    const yamlLimits = { ...limits, maxBytes: Math.min(limits.maxBytes, MANIFEST_FILE_LIMITS.maxBytes) };
    if (json.ok || json.failure.kind !== 'syntax' || Buffer.byteLength(text) > yamlLimits.maxBytes) documents = [json];
    else documents = parseYamlBounded(text, yamlLimits);
  }
  documents ??= parseYamlBounded(text, limits);
  let index = 0;
  for (const document of documents) {
    if (!document.ok) {
      problems.push(parseProblem(document.failure, file, index++));
      continue;
    }
    const value = document.value;
    if (value === null || value === undefined) continue; // an empty document is not a document for kubectl either
    if (isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
      for (const item of value.items) visit(item, index++);
      continue;
    }
    visit(value, index++);
  }
}

function acceptDocument(value: unknown, file: string, document: number, objects: KubeObject[], problems: ManifestProblem[]): void {
  if (!isRecord(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') {
    problems.push({
      severity: 'error',
      code: 'PORTICO_E_MANIFEST_SCHEMA',
      file,
      document,
      field: isRecord(value) && typeof value.apiVersion === 'string' ? 'kind' : 'apiVersion',
      message: 'not a Kubernetes object: apiVersion and kind must be strings',
    });
    return;
  }
  let candidate: Record<string, unknown> = value;
  if (value.kind === 'Ingress' && LEGACY_INGRESS_VERSIONS.includes(value.apiVersion)) {
    candidate = convertLegacyIngress(value);
    problems.push({
      severity: 'warning',
      code: 'PORTICO_W_LEGACY_API',
      file,
      document,
      field: 'apiVersion',
      message: `${value.apiVersion} Ingress converted to networking.k8s.io/v1 (the legacy API was removed in Kubernetes 1.22)`,
    });
  }
  const kindKey = `${String(candidate.apiVersion)} ${String(candidate.kind)}`;
  const schema = SCHEMAS[kindKey];
  if (schema === undefined) {
    problems.push({
      severity: 'warning',
      code: 'PORTICO_W_MANIFEST_IGNORED',
      file,
      document,
      field: 'kind',
      message: `${kindKey} is not a kind Portico reads; ignored`,
    });
    return;
  }
  const parsed = schema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = isRecord(candidate.metadata) && typeof candidate.metadata.name === 'string' ? ` ${candidate.metadata.name}` : '';
    problems.push({
      severity: 'error',
      code: 'PORTICO_E_MANIFEST_SCHEMA',
      file,
      document,
      field: fieldPath(issue.path),
      message: `${String(candidate.kind)}${name}: ${fieldPath(issue.path) || '(document)'}: ${issue.message}`,
    });
    return;
  }
  const object = parsed.data;
  // kubectl puts a namespaced object without a namespace into `default`; so does Portico.
  if (!CLUSTER_SCOPED_KINDS.has(object.kind) && object.metadata.namespace === undefined) object.metadata.namespace = 'default';
  if (object.kind === 'Secret') {
    // TLS Secrets, and the `auth` key of others (basic auth); nothing else is ours to hold.
    const retained = retainedSecret(object);
    if (retained !== undefined) objects.push(retained);
    return;
  }
  objects.push(object.kind === 'ConfigMap' ? retainedConfigMap(object) : object);
}
