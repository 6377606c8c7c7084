// Writes schemas/*.json from the code that reads each file (src/app/schemas.ts), from the compiled lib/.
// npm run schemas (compiles first). test/schemas.test.ts fails when a committed schema is not current.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { publishedSchemas, schemaText } = await import(path.join(root, 'lib', 'app', 'schemas.js'));
const dir = path.join(root, 'schemas');
mkdirSync(dir, { recursive: true });
for (const [file, schema] of Object.entries(publishedSchemas())) {
  writeFileSync(path.join(dir, file), schemaText(schema));
  console.log(`schemas: wrote schemas/${file}`);
}
