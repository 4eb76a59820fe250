// What the assignment-schema validators are made with, shared by the run-time loader
// (json-schema.ts) and the generator of their ahead-of-time code (validator-codegen.ts).
import { createHash } from 'node:crypto';
import type { Options } from 'ajv/dist/2020.js';
import { ASSIGNMENT_SCHEMA } from './session-schema.js';

export const ASSIGNMENT_SCHEMA_ID = ASSIGNMENT_SCHEMA.$id;

/**
 * ajv options. No useDefaults: validation only checks; defaults are filled in by one function,
 * config/schema-defaults.ts, from the same schema.
 */
export const AJV_OPTIONS: Options = { allErrors: true, verbose: true, allowUnionTypes: true, strict: true };

/** The validators and where in the schema each one starts. */
export const VALIDATOR_REFS = { document: '', sessions: '#/$defs/sessions', session: '#/$defs/session', credentials: '#/$defs/credentials' } as const;

/** Fingerprint of the schema the generated validators were made from (checked at load). */
export function schemaFingerprint(schema: object = ASSIGNMENT_SCHEMA): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}
