/**
 * `npm run example:build`: regenerate the bundled example archive and the aggregated bar files from
 * examples/data/BTCUSD_1Hour.csv. The output is deterministic; a test checks the committed files match.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ARCHIVE_NAME, buildExample } from './example-archive.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = buildExample(readFileSync(`${root}examples/data/BTCUSD_1Hour.csv`, 'utf8'));
writeFileSync(`${root}examples/${ARCHIVE_NAME}`, out.archive);
for (const [name, text] of Object.entries(out.bars)) writeFileSync(`${root}examples/data/${name}`, text);
process.stderr.write(`wrote examples/${ARCHIVE_NAME} (${out.archive.length} bytes) and ${Object.keys(out.bars).join(', ')}\n`);
