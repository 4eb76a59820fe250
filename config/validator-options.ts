// What the assignment-schema validators are made with, shared by the run-time loader
// (json-schema.ts) and the generator of their ahead-of-time code (validator-codegen.ts).
import { createHash } from 'node:crypto';
import type { Options } from 'ajv/dist/2020.js';

export const ASSIGNMENT_SCHEMA_ID = 'urn:ssh-edge-agent:assignment:v1';

/** ajv options; useDefaults fills in defaults on the (cloned) data, so validated sessions come out complete. */
export const AJV_OPTIONS: Options = { allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true, strict: true };

/** The validators and where in the schema each one starts. */
export const VALIDATOR_REFS = { document: '', sessions: '#/$defs/sessions', session: '#/$defs/session', credentials: '#/$defs/credentials' } as const;

/** Fingerprint of the schema text the generated validators were made from (checked at load). */
export function schemaFingerprint(schemaText: string): string {
  return createHash('sha256').update(schemaText).digest('hex');
}
