// `npm run schema`: writes config/assignment-validators.generated.ts (the assignment schema's
// validators as ahead-of-time code, config/validator-codegen.ts) and config/config.schema.json
// from the agent's schemas (config/config-schema.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { assignmentValidatorsSource } from '../config/validator-codegen.js';

const validators = new URL('../config/assignment-validators.generated.ts', import.meta.url);
writeFileSync(validators, assignmentValidatorsSource(readFileSync(new URL('../config/assignment.schema.json', import.meta.url), 'utf8')));
process.stdout.write('wrote config/assignment-validators.generated.ts\n');

// Imported after the validators exist: the config schema is built from the loader's modules.
const { configSchemaText } = await import('../config/config-schema.js');
const file = new URL('../config/config.schema.json', import.meta.url);
writeFileSync(file, configSchemaText());
process.stdout.write('wrote config/config.schema.json\n');
