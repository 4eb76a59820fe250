// The one function that fills in defaults, all of them taken from config/session-schema.ts:
// what ajv's useDefaults did, without ajv (session workers and the library use it too, and
// ajv is the heaviest module of config loading). `deepFreeze` makes a loaded model read-only.
import { ASSIGNMENT_SCHEMA, FORWARD_BIND_DEFAULT, SESSION_PORT_DEFAULT, type SchemaDefName } from './session-schema.js';

interface SchemaNode { default?: unknown; $ref?: string; properties?: Record<string, SchemaNode>; items?: SchemaNode }

const DEFS = ASSIGNMENT_SCHEMA.$defs as unknown as Record<string, SchemaNode>;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);

function resolve(node: SchemaNode): SchemaNode {
  return node.$ref?.startsWith('#/$defs/') ? resolve(DEFS[node.$ref.slice(8)]!) : node;
}

function fill(node: SchemaNode, value: unknown): unknown {
  const schema = resolve(node);
  if (Array.isArray(value)) return schema.items ? value.map((v) => fill(schema.items!, v)) : value;
  if (!isObj(value) || !schema.properties) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [key, prop] of Object.entries(schema.properties)) {
    if (out[key] === undefined && 'default' in prop) out[key] = structuredClone(prop.default);
    if (out[key] !== undefined) out[key] = fill(prop, out[key]);
    else delete out[key];
  }
  return out;
}

/**
 * `value` (not modified) with every absent key that has a schema default filled in, deep, as
 * the `$defs` entry `def` declares it. A value of the wrong shape is returned as it is, for the
 * validator to name.
 */
export function withSchemaDefaults<T>(def: SchemaDefName, value: T): T {
  return fill(DEFS[def]!, value) as T;
}

/** One default of a `$defs` entry's key (for the few values the model must name, e.g. in CLI help). */
export function schemaDefault(def: SchemaDefName, key: string): unknown {
  return structuredClone(resolve(DEFS[def]!).properties?.[key]?.default);
}

/** Every default of a `$defs` entry's keys: `{ intervalMs: 30000, countMax: 5 }` for keepalive. */
export function schemaDefaults<T>(def: SchemaDefName, sub?: string): T {
  const node = sub ? resolve(DEFS[def]!).properties![sub]! : DEFS[def]!;
  return fill(node, {}) as T;
}

/** A session of a config file or document, defaults filled in (the two conditional ones too). */
export function fillSessionDefaults(session: unknown): unknown {
  const s = withSchemaDefaults('session', session);
  if (!isObj(s)) return s;
  if (s.hosts === undefined && s.port === undefined) s.port = SESSION_PORT_DEFAULT;
  if (Array.isArray(s.forwards)) {
    s.forwards = s.forwards.map((f) => (isObj(f) && f.remoteSocket === undefined && f.bind === undefined ? { ...f, bind: FORWARD_BIND_DEFAULT } : f));
  }
  return s;
}

/** Freezes `value` and everything in it (Buffers excepted: they cannot be frozen). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
