// The JSON Schema of sessions, assignment documents and credentials (assignment.schema.json),
// and ajv errors turned into one-line messages naming the key in dotted/bracket form:
// `/sessions/1/forwards/0/port` → `sessions[1].forwards[0].port`.
//
// The validators are ajv's standalone code for the schema, generated ahead of time
// (config/assignment-validators.generated.ts, `npm run schema`): compiling the schema at run time
// took 0.4–0.9 s and ~10 MB on a 2-core device, most of `edge-agent run`'s start. The generated
// code carries the fingerprint of the schema it was made from; should the schema file differ
// (edited without regenerating), the schema is compiled with ajv here instead — same answers,
// slower start — and test/unit/assignment-validators.test.ts fails until it is regenerated.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import * as generated from './assignment-validators.generated.js';
import { describeValue, ENV_NAME_PATTERN, ID_PATTERN, ID_RULE } from './formats.js';
import { AJV_OPTIONS, ASSIGNMENT_SCHEMA_ID, schemaFingerprint, VALIDATOR_REFS } from './validator-options.js';

const require = createRequire(import.meta.url);

type Validators = Record<keyof typeof VALIDATOR_REFS, ValidateFunction>;

// From config/*.ts (tsx, tests) the file sits next to this module; from a build
// (dist/config/*.js) it is the package's own config/ directory, two levels up.
const SCHEMA_CANDIDATES = [
  new URL('./assignment.schema.json', import.meta.url),
  new URL('../../config/assignment.schema.json', import.meta.url),
];

let loaded: (Validators & { schema: object; source: 'generated' | 'compiled' }) | undefined;

/** The raw JSON Schema (for tooling, e.g. a fleet server validating what it serves). */
export function assignmentJsonSchema(): object {
  return validators().schema;
}

/** The schema file's text. */
export function readSchemaText(): string {
  let lastError: unknown;
  for (const url of SCHEMA_CANDIDATES) {
    try {
      return readFileSync(fileURLToPath(url), 'utf8');
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot read assignment.schema.json: ${(lastError as Error).message}`);
}

export function validators(): NonNullable<typeof loaded> {
  if (loaded) return loaded;
  const text = readSchemaText();
  const schema = JSON.parse(text) as object;
  if (schemaFingerprint(text) === generated.SCHEMA_SHA256) {
    loaded = { schema, source: 'generated', ...(generated as unknown as Validators) };
    return loaded;
  }
  const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const ajv = new Ajv2020(AJV_OPTIONS);
  ajv.addSchema(schema);
  const get = (ref: string): ValidateFunction => {
    const fn = ajv.getSchema(`${ASSIGNMENT_SCHEMA_ID}${ref}`);
    if (!fn) throw new Error(`assignment.schema.json has no ${ref}`);
    return fn;
  };
  loaded = {
    schema, source: 'compiled',
    ...(Object.fromEntries(Object.entries(VALIDATOR_REFS).map(([name, ref]) => [name, get(ref)])) as Validators),
  };
  return loaded;
}

/** `base` + a JSON pointer → `base[1].forwards[0].port`; array indexes in brackets, odd keys quoted. */
export function pointerToPath(base: string, pointer: string, data: unknown): string {
  let out = base;
  let node: unknown = data;
  if (pointer === '') return out;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) out += `[${seg}]`;
    else out = appendKey(out, seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}

export function appendKey(base: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'an object', array: 'an array', null: 'null',
};

/**
 * One message per problem. `showValues: false` never echoes a value (credential paths).
 */
export function formatAjvErrors(errors: ErrorObject[] | null | undefined, base: string, data: unknown, showValues = true): string[] {
  const out: string[] = [];
  for (const e of errors ?? []) {
    if (e.propertyName !== undefined) continue; // inner errors of propertyNames: reported once below
    const at = pointerToPath(base, e.instancePath, data);
    const got = showValues && e.data !== undefined && (typeof e.data !== 'object' || e.data === null) ? ` (got ${describeValue(e.data)})` : '';
    let msg: string;
    switch (e.keyword) {
      case 'required':
        msg = `${appendKey(at, String(e.params.missingProperty))}: is required`;
        break;
      case 'additionalProperties': {
        const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        msg = `${appendKey(at, String(e.params.additionalProperty))}: unknown key${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
        break;
      }
      case 'propertyNames':
        msg = `${at}: the name ${JSON.stringify(e.params.propertyName)} is not allowed (${ID_RULE})`;
        break;
      case 'type': {
        const types = Array.isArray(e.params.type) ? e.params.type as string[] : String(e.params.type).split(',');
        msg = `${at}: must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}${showValues ? ` (got ${describeValue(e.data)})` : ''}`;
        break;
      }
      case 'enum':
        msg = `${at}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got}`;
        break;
      case 'pattern': {
        const pattern = String(e.params.pattern);
        const rule = pattern === ID_PATTERN.source ? ID_RULE
          : pattern === ENV_NAME_PATTERN.source ? 'an environment variable name (letters, digits and "_", not starting with a digit)'
          : `matching ${pattern}`;
        msg = `${at}: must be ${rule}${got}`;
        break;
      }
      case 'minLength':
        msg = e.params.limit === 1 ? `${at}: must not be empty` : `${at}: ${e.message}`;
        break;
      default:
        msg = `${at}: ${e.message ?? e.keyword}${got}`;
    }
    if (!out.includes(msg)) out.push(msg);
  }
  return out;
}
