// `npm run schema`: writes config/config.schema.json and config/assignment.schema.json from the
// agent's schemas (config/config-schema.ts, config/session-schema.ts).
import { writeFileSync } from 'node:fs';
import { assignmentSchemaText, configSchemaText } from '../config/config-schema.js';

writeFileSync(new URL('../config/config.schema.json', import.meta.url), configSchemaText());
writeFileSync(new URL('../config/assignment.schema.json', import.meta.url), assignmentSchemaText());
process.stdout.write('wrote config/config.schema.json and config/assignment.schema.json\n');
