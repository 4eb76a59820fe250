// The assignment schema's validators run as ahead-of-time code (config/assignment-validators.generated.ts,
// `npm run schema`) instead of being compiled with ajv at start (0.4–0.9 s, ~10 MB on a 2-core
// device). The generated code must be current and answer exactly as ajv's run-time compile does.
import { readFileSync } from 'node:fs';
import * as ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { validators } from '../../config/json-schema.js';
import { ASSIGNMENT_SCHEMA } from '../../config/session-schema.js';
import { assignmentValidatorsSource } from '../../config/validator-codegen.js';
import { AJV_OPTIONS, ASSIGNMENT_SCHEMA_ID, VALIDATOR_REFS } from '../../config/validator-options.js';

const example = JSON.parse(readFileSync(new URL('../../config/example.json', import.meta.url), 'utf8')) as { sessions: unknown[]; credentials: unknown };

function compiledAtRunTime() {
  const ajv = new ajv2020.Ajv2020(AJV_OPTIONS);
  ajv.addSchema(structuredClone(ASSIGNMENT_SCHEMA) as object);
  return Object.fromEntries(Object.keys(VALIDATOR_REFS).map((name) => [name, ajv.getSchema(`${ASSIGNMENT_SCHEMA_ID}${VALIDATOR_REFS[name as keyof typeof VALIDATOR_REFS]}`)!]));
}

const session = example.sessions[0] as Record<string, unknown>;
const CASES: Array<[keyof typeof VALIDATOR_REFS, unknown]> = [
  ['sessions', example.sessions],
  ['sessions', [{ id: 's', host: 'h', username: 'u', credential: 'c', forwards: [{ id: 'f', port: 8080, target: 'tcp://127.0.0.1:1' }] }]],
  ['sessions', [{ ...session, port: 70000, extra: true, forwards: [{ id: 'bad id!', port: -1, target: 7 }] }]],
  ['sessions', [{ id: '', host: 'h' }, 'not an object', null]],
  ['session', { ...session, keepalive: { intervalMs: 'soon' }, reconnect: { mode: 'sometimes' } }],
  ['document', { revision: 3, sessions: example.sessions }],
  ['document', { revision: 'three', sessions: {}, unknown: 1 }],
  ['credentials', example.credentials],
  ['credentials', { 'bad name': { privateKeyFile: 1, nope: true } }],
];

describe('config/assignment-validators.generated.ts', () => {
  it('is what `npm run schema` generates from config/session-schema.ts', () => {
    // If this fails after the schema changed: run `npm run schema` and commit the file.
    expect(readFileSync(new URL('../../config/assignment-validators.generated.ts', import.meta.url), 'utf8')).toBe(assignmentValidatorsSource());
    expect(validators().source).toBe('generated');
  });

  it('answers as ajv compiling the schema at run time does: validity, errors, data left as given (defaults come from config/schema-defaults.ts)', () => {
    const compiled = compiledAtRunTime();
    const loaded = validators();
    for (const [name, data] of CASES) {
      const a = structuredClone(data);
      const b = structuredClone(data);
      const okGenerated = loaded[name](a);
      const okCompiled = compiled[name]!(b);
      expect(okGenerated, `${name} ${JSON.stringify(data)}`).toBe(okCompiled);
      expect(a).toEqual(b);
      expect(a).toEqual(data); // validation only checks: no defaults written into the data
      const strip = (errors: unknown) => JSON.parse(JSON.stringify(errors ?? null)) as unknown;
      expect(strip(loaded[name].errors)).toEqual(strip(compiled[name]!.errors));
    }
    // the cases do exercise both outcomes
    expect(CASES.filter(([name, data]) => loaded[name](structuredClone(data))).length).toBeGreaterThan(2);
    expect(CASES.filter(([name, data]) => !loaded[name](structuredClone(data))).length).toBeGreaterThan(2);
  });

  it("points its errors' schema and parentSchema at ASSIGNMENT_SCHEMA's own objects: no second copy of the schema in the code or the heap", () => {
    const text = readFileSync(new URL('../../config/assignment-validators.generated.ts', import.meta.url), 'utf8');
    expect(text).not.toMatch(/const schema\d+ = [{[]/); // ajv's literals, each replaced by a reference
    const loaded = validators();
    expect(loaded.session({ ...session, keepalive: { intervalMs: 1000, extra: 1 } })).toBe(false);
    const extra = loaded.session.errors!.find((e) => e.keyword === 'additionalProperties')!;
    const defs = (ASSIGNMENT_SCHEMA as unknown as { $defs: Record<string, object> }).$defs;
    expect(extra.parentSchema).toBe(defs.keepalive);
    expect(loaded.session({ ...session, id: 'bad id!' })).toBe(false);
    expect(loaded.session.errors!.find((e) => e.keyword === 'pattern')!.parentSchema).toBe(defs.id);
  });
});
