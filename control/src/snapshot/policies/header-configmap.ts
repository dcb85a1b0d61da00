/**
 * A ConfigMap of header fields, as `custom-headers` (response headers) and
 * `auth-proxy-set-headers` (headers of the auth subrequest) name it: each key a field name, each
 * value its value (ingress-nginx internal/ingress/annotations/customheaders and authreq). Read
 * strictly: a name that is not ingress-nginx's `[A-Za-z0-9_-]+`, one Portico must write itself
 * (message framing, or the auth subrequest's own fields), a value with a control character, or
 * more entries than the bound refuses the Ingress (503) with an Error naming the ConfigMap and
 * the key, as ingress-nginx denies the location. Pure.
 */
import type { ZodType } from 'zod';
import { unknownVariable } from './auth-url.ts';
import type { AnnotationReader, Zod } from './module.ts';

/** ingress-nginx's header name rule (customheaders.ValidHeader), at most 128 characters. */
export const CONFIGMAP_HEADER_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** Printable ASCII, no leading or trailing space, at most 4096 characters (ingress-nginx's value characters, and never CR, LF or NUL). */
export const CONFIGMAP_HEADER_VALUE = /^(?=.{1,4096}$)[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
/** Most entries one such ConfigMap may hold. */
export const MAX_CONFIGMAP_HEADERS = 64;

/** Fields that frame the message or the connection: never taken from a ConfigMap. */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te', 'trailer', 'expect', 'host']);

/** One header of such a ConfigMap. */
export interface ConfigMapHeader {
  readonly name: string;
  readonly value: string;
}

/** The headers of one ConfigMap as the snapshot carries them: `namespace/name`, and the entries sorted by name. */
export interface ConfigMapHeaders {
  readonly configMap: string;
  readonly headers: readonly ConfigMapHeader[];
}

/** The snapshot form of ConfigMapHeaders. */
export function configMapHeadersSchema(z: Zod): ZodType<ConfigMapHeaders> {
  return z.strictObject({
    configMap: z.string().min(3).max(317),
    headers: z.array(z.strictObject({ name: z.string().regex(CONFIGMAP_HEADER_NAME), value: z.string().regex(CONFIGMAP_HEADER_VALUE) })).max(MAX_CONFIGMAP_HEADERS),
  });
}

/** How one annotation reads its ConfigMap. */
export interface HeaderConfigMapRules {
  /** Lower-case names refused besides FRAMING_HEADERS, each with why. */
  readonly reserved: ReadonlyMap<string, string>;
  /** Whether values may use the nginx variables Portico fills in (auth-url.ts VARIABLES); otherwise `$` is literal. */
  readonly variables: boolean;
}

/**
 * Reads annotation `annotation`: undefined when not set, 'refused' (Error condition naming the
 * ConfigMap and key) when the ConfigMap is elsewhere, missing or holds an entry Portico cannot
 * send as written, else its headers sorted by name.
 */
export function readHeaderConfigMap(reader: AnnotationReader, annotation: string, rules: HeaderConfigMapRules): ConfigMapHeaders | 'refused' | undefined {
  const name = reader.localReference(annotation, 'ConfigMap');
  if (name === undefined || name === 'refused') return name;
  const configMap = `${reader.namespace}/${name}`;
  const data = reader.configMap(name);
  if (data === undefined) {
    reader.refuse(annotation, `ConfigMap ${configMap} not found`);
    return 'refused';
  }
  const keys = Object.keys(data).sort();
  if (keys.length > MAX_CONFIGMAP_HEADERS) {
    reader.refuse(annotation, `ConfigMap ${configMap} has ${keys.length} entries; at most ${MAX_CONFIGMAP_HEADERS} headers are allowed`);
    return 'refused';
  }
  const problems: string[] = [];
  for (const key of keys) {
    const value = data[key]!;
    const lower = key.toLowerCase();
    if (!CONFIGMAP_HEADER_NAME.test(key)) problems.push(`key ${JSON.stringify(key.slice(0, 130))} is not a header name (letters, digits, - and _, at most 128)`);
    else if (FRAMING_HEADERS.has(lower)) problems.push(`key ${key} frames the message; Portico never takes it from a ConfigMap`);
    else if (rules.reserved.has(lower)) problems.push(`key ${key}: ${rules.reserved.get(lower)!}`);
    else if (!CONFIGMAP_HEADER_VALUE.test(value)) problems.push(`key ${key}: the value must be 1-4096 printable ASCII characters without leading or trailing space (no CR, LF or other control characters)`);
    else if (rules.variables) {
      const variable = unknownVariable(value);
      if (variable !== undefined) problems.push(`key ${key}: ${variable}`);
    }
  }
  if (problems.length > 0) {
    reader.refuse(annotation, `ConfigMap ${configMap}: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}`);
    return 'refused';
  }
  return { configMap, headers: keys.map((key) => ({ name: key, value: data[key]! })) };
}
