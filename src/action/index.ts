/** The entry point dist/index.js is bundled from: it only runs the action (main.ts). */
import { run } from './main.js';

await run();
