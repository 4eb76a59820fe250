// `npm run schema`: writes config/config.schema.json and config/assignment.schema.json from the
// agent's schemas (config/config-schema.ts, config/session-schema.ts), and
// config/assignment-validators.generated.ts (the assignment schema's validators as ahead-of-time
// code, config/validator-codegen.ts).
import { writeFileSync } from 'node:fs';
import { assignmentValidatorsSource } from '../config/validator-codegen.js';

writeFileSync(new URL('../config/assignment-validators.generated.ts', import.meta.url), assignmentValidatorsSource());
process.stdout.write('wrote config/assignment-validators.generated.ts\n');

// Imported after the validators exist: the config schema is built from the loader's modules.
const { assignmentSchemaText, configSchemaText } = await import('../config/config-schema.js');
writeFileSync(new URL('../config/config.schema.json', import.meta.url), configSchemaText());
writeFileSync(new URL('../config/assignment.schema.json', import.meta.url), assignmentSchemaText());
process.stdout.write('wrote config/config.schema.json and config/assignment.schema.json\n');
