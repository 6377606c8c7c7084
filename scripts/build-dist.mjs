#!/usr/bin/env node
/**
 * Bundles the GitHub Action into dist/index.js (committed; CI rebuilds it and fails on a diff).
 *
 *   node scripts/build-dist.mjs [--outfile <file>]
 *
 * - esbuild, platform node, ESM, target node20 (runs on the runner's Node 20 or 24).
 * - Everything is bundled except onnxruntime-node, whose 45 MB native library is never committed:
 *   action.yml installs it at run time into dist/runtime/node_modules and puts that folder on
 *   NODE_PATH. Its `import('onnxruntime-node')` is replaced by a two-line module that loads it with
 *   CommonJS `require`, because ESM resolution ignores NODE_PATH while CommonJS honours it — the same
 *   resolution session.ts's `createRequire(import.meta.url).resolve('onnxruntime-node/…')` uses to find
 *   the CUDA provider library, so both look in the same place.
 * - src/util/version.ts reads ../../package.json next to its own file, which does not exist beside
 *   dist/index.js; the bundle gets the version as a constant instead (a version bump changes dist/, so
 *   check-dist catches a stale bundle).
 * - unzipper (a transitive dependency) has an optional require('@aws-sdk/client-s3'): external, never loaded.
 * - debug (under @actions/*) has an optional require('supports-color') in a try block: external, so the
 *   bundle is the same whether or not some other package's install hoists supports-color into node_modules.
 * - The banner gives bundled CommonJS code a `require` (for Node built-ins and the external modules).
 * - Deterministic: no timestamps, no source maps, paths in comments relative to the repository root.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildHost } from './build-host.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--outfile');
const outfile = outIndex >= 0 ? resolve(args[outIndex + 1]) : join(root, 'dist', 'index.js');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** @type {import('esbuild').Plugin} */
const runtimePlugin = {
  name: 'policy-gate-runtime',
  setup(b) {
    // The shim's own require() stays a runtime require (external); every other import of it gets the shim.
    b.onResolve({ filter: /^onnxruntime-node$/ }, (a) =>
      a.namespace === 'policy-gate-ort' ? { path: 'onnxruntime-node', external: true } : { path: 'onnxruntime-node', namespace: 'policy-gate-ort' },
    );
    b.onLoad({ filter: /.*/, namespace: 'policy-gate-ort' }, () => ({
      loader: 'js',
      contents: ['// onnxruntime-node is installed at run time (action.yml) into dist/runtime/node_modules, which is on NODE_PATH.', 'export default require("onnxruntime-node");', ''].join('\n'),
    }));
    b.onLoad({ filter: /[\\/]src[\\/]util[\\/]version\.ts$/ }, () => ({
      loader: 'ts',
      contents: `/** The tool's version, fixed when dist/index.js was built. */\nexport function toolVersion(): string {\n  return ${JSON.stringify(version)};\n}\n`,
    }));
  },
};

const banner = ["import { createRequire as __pgCreateRequire } from 'node:module';", 'const require = __pgCreateRequire(import.meta.url);'].join('\n');

// The onnxruntime host's source text is a generated module the bundle inlines: make it current first.
buildHost();

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/action/index.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@aws-sdk/client-s3', 'supports-color'],
  plugins: [runtimePlugin],
  banner: { js: `// policy-gate ${version} — the GitHub Action, bundled by scripts/build-dist.mjs. Do not edit.\n${banner}` },
  charset: 'utf8',
  legalComments: 'eof',
  sourcemap: false,
  minify: false,
  metafile: true,
  logLevel: 'warning',
});

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
const text = readFileSync(outfile, 'utf8');
if (text.includes(root)) {
  console.error(`build-dist: ${outfile} contains the absolute path ${root}; the bundle must not depend on where it was built`);
  process.exit(1);
}
console.error(`build-dist: wrote ${outfile} (${(bytes / 1024 / 1024).toFixed(2)} MiB, policy-gate ${version})`);
