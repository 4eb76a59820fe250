// config/config.schema.json: generated from the loader's own schemas and kept in sync with
// them; the shipped example validates against it; config files may name it in "$schema".
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { assignmentSchemaText, configSchemaText } from '../../config/config-schema.js';
import { loadConfig } from '../../config/load-config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const schemaFile = path.join(root, 'config/config.schema.json');
const example = JSON.parse(readFileSync(path.join(root, 'config/example.json'), 'utf8')) as Record<string, unknown>;

function validator() {
  const ajv = new ajv2020.Ajv2020({ allErrors: true, strict: false });
  return ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
}

describe('config/config.schema.json', () => {
  it('is what `npm run schema` generates from the convict schema and assignment.schema.json', () => {
    // If this fails after a config key changed: run `npm run schema` and commit the file.
    expect(readFileSync(schemaFile, 'utf8')).toBe(configSchemaText());
  });

  it('config/assignment.schema.json is what `npm run schema` generates from config/session-schema.ts', () => {
    // The published schema is generated, never edited: run `npm run schema` and commit it.
    expect(readFileSync(path.join(root, 'config/assignment.schema.json'), 'utf8')).toBe(assignmentSchemaText());
  });

  it('accepts the shipped example and rejects what the loader rejects', () => {
    const validate = validator();
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...example, $schema: './node_modules/ssh-edge-agent/config/config.schema.json' })).toBe(true);
    expect(validate({ ...example, extra: 1 })).toBe(false);
    expect(validate({ agent: { logLevel: 'loud' } })).toBe(false);
    expect(validate({ sessions: [{ id: 's', host: 'h', username: 'u', credential: 'c', forwards: [{ id: 'f', port: 70000, target: 'tcp://127.0.0.1:1' }] }] })).toBe(false);
    expect(validate({ credentials: { k: { privateKeyFile: '/k', nope: true } } })).toBe(false);
  });

  it('a config file may name its schema in "$schema"', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-schema-'));
    try {
      const file = path.join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ $schema: '../config/config.schema.json', agent: { id: 'dev-1' } }));
      expect(loadConfig({ file, env: {} }).agent.id).toBe('dev-1');
      writeFileSync(file, JSON.stringify({ $schema: 1 }));
      expect(() => loadConfig({ file, env: {} })).toThrow(/\$schema: must be a string/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
