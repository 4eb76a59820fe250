// `npm run schema`: writes config/config.schema.json from the agent's schemas (config/config-schema.ts).
import { writeFileSync } from 'node:fs';
import { configSchemaText } from '../config/config-schema.js';

const file = new URL('../config/config.schema.json', import.meta.url);
writeFileSync(file, configSchemaText());
process.stdout.write('wrote config/config.schema.json\n');
