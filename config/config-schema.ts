// Builds config/config.schema.json — the JSON Schema of the agent's config file, for editors
// and fleet tooling — from the two schemas the loader really uses: the convict schema
// (schema.ts: every scalar key, its doc, default and format) and session-schema.ts (the shape
// of `sessions` and `credentials`, whose $defs are embedded so the file stands alone). It also
// publishes session-schema.ts itself as assignment.schema.json. `npm run schema` writes both
// files; test/unit/config-schema.test.ts fails when either is stale.
import { ASSIGNMENT_SCHEMA } from './session-schema.js';
import { ENV_NAME_PATTERN } from './formats.js';
import { buildConfigSchema, INTEGER_FORMATS } from './schema.js';

export const CONFIG_SCHEMA_ID = 'urn:ssh-edge-agent:config:v1';

type Json = Record<string, unknown>;

/** convict format → JSON Schema of the value (the loader's own checks stay stricter, e.g. URL syntax). */
const FORMATS: Record<string, Json> = {
  ...Object.fromEntries(Object.entries(INTEGER_FORMATS).map(([name, [minimum, maximum]]) => [name, { type: 'integer', minimum, maximum }])),
  'edge-agent-id': { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s\\x00-\\x1f\\x7f]+$' },
  'edge-listen-address': { type: 'string', examples: ['127.0.0.1:9480', '[::1]:9480', ''] },
  'edge-url': { type: 'string', examples: ['https://fleet.example.com/agents/{agentId}/assignments', ''] },
  'edge-env-name': { type: 'string', pattern: ENV_NAME_PATTERN.source },
  'edge-path': { type: 'string' },
  'edge-signing-key': { type: 'string' },
  'edge-string-list': { type: 'array', items: { type: 'string' } },
  'edge-boolean': { type: 'boolean' },
  'edge-json-array': { $ref: '#/$defs/sessions' },
};

function leafSchema(key: string, leaf: Json): Json {
  const out: Json = { description: leaf.doc };
  const format = leaf.format;
  if (Array.isArray(format)) Object.assign(out, { type: 'string', enum: format });
  else if (format === Object && key === 'credentials') Object.assign(out, { $ref: '#/$defs/credentials' });
  else if (typeof format === 'string' && FORMATS[format]) Object.assign(out, FORMATS[format]);
  else throw new Error(`config-schema: no JSON Schema for the format of ${key}; add it to FORMATS`);
  // agent.id's default is the host name at load time: not a fixed value to publish.
  if (key !== 'agent.id' && key !== 'sessions' && key !== 'credentials') out.default = leaf.default;
  return out;
}

function objectSchema(node: Json, prefix: string): Json {
  const properties: Json = {};
  for (const [k, v] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const item = v as Json;
    properties[k] = 'default' in item ? leafSchema(key, item) : objectSchema(item, key);
  }
  return { type: 'object', additionalProperties: false, properties };
}

/** The config file's JSON Schema (what config/config.schema.json holds). */
export function buildConfigJsonSchema(): Json {
  const assignment = ASSIGNMENT_SCHEMA as unknown as Json;
  const root = objectSchema(buildConfigSchema() as unknown as Json, '');
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: CONFIG_SCHEMA_ID,
    title: 'ssh-edge-agent config file',
    description: 'The agent\'s config file (edge-agent run --config FILE). Generated from the agent\'s own schemas (npm run schema); the agent checks more than a JSON Schema can (target URLs, host patterns, policy): run `edge-agent check --config FILE`. Every key may be overridden by an EDGE_AGENT_<KEY> environment variable.',
    type: 'object',
    additionalProperties: false,
    properties: {
      $schema: { description: 'This schema\'s location, for editors (ignored by the agent).', type: 'string' },
      ...(root.properties as Json),
    },
    $defs: assignment.$defs,
  };
}

/** The file's text: stable key order, two-space indent, trailing newline. */
export function configSchemaText(): string {
  return `${JSON.stringify(buildConfigJsonSchema(), null, 2)}\n`;
}

/** config/assignment.schema.json's text: the session schema as published for fleet tooling. */
export function assignmentSchemaText(): string {
  return `${JSON.stringify(ASSIGNMENT_SCHEMA, null, 2)}\n`;
}
