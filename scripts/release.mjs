#!/usr/bin/env node
// Cuts a release of the Action and the package from the current commit:
//   1. the version is package.json's; CHANGELOG.md must have a "## [<version>]" section;
//   2. the working tree is clean and dist/index.js is exactly the build of the sources;
//   3. the npm package holds what users install (bin, lib with its declarations, schemas) and no sources;
//   4. tags: v<version> (annotated, new) and the moving major tag v<major> the README tells users to use.
// Without --push it prints what it would do and changes nothing (a dry run); with --push it creates the
// tags and pushes them to the remote (origin, or --remote <name>). .github/workflows/release.yml runs it.
//
//   node scripts/release.mjs            # dry run
//   node scripts/release.mjs --push     # tag and push
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { push: { type: 'boolean', default: false }, remote: { type: 'string', default: 'origin' } } });
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8' }).trim();
const fail = (message) => {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
};

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const version = pkg.version;
if (!/^\d+\.\d+\.\d+$/.test(version)) fail(`package.json version ${JSON.stringify(version)} is not MAJOR.MINOR.PATCH`);
const major = `v${version.split('.')[0]}`;
const tag = `v${version}`;

const changelog = readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8');
if (!new RegExp(`^## \\[${version.replaceAll('.', '\\.')}\\]`, 'm').test(changelog)) {
  fail(`CHANGELOG.md has no "## [${version}]" section: move the Unreleased entries under it`);
}

if (git('status', '--porcelain') !== '') fail('the working tree has uncommitted changes: release a commit, not a working tree');
if (git('tag', '--list', tag) !== '') fail(`tag ${tag} exists: bump package.json's version`);

// dist/index.js must be the build of this commit's sources.
const tmp = mkdtempSync(path.join(tmpdir(), 'policy-gate-release-'));
try {
  const fresh = path.join(tmp, 'index.js');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-dist.mjs'), '--outfile', fresh], { cwd: root, stdio: 'pipe' });
  if (!readFileSync(fresh).equals(readFileSync(path.join(root, 'dist', 'index.js')))) fail('dist/index.js is not the build of the sources: run npm run build:dist and commit it');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// What npm would publish (lib is built by the prepare script; here it must already exist).
const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const files = packed[0].files.map((f) => f.path);
for (const want of ['bin/policy-gate.js', 'lib/index.js', 'lib/index.d.ts', 'lib/cli.js', 'schemas/policy-card.json', 'LICENSE', 'README.md']) {
  if (!files.includes(want)) fail(`the npm package would not hold ${want} (build lib/ first: npm run build)`);
}
const stray = files.filter((f) => /^(src|test|dist|examples|scripts)\//.test(f));
if (stray.length > 0) fail(`the npm package would hold ${stray.slice(0, 3).join(', ')}: check package.json "files"`);

const head = git('rev-parse', 'HEAD');
const plan = [`tag ${tag} (annotated) at ${head}`, `move ${major} to ${head}`, ...(args.push ? [`push ${tag} and ${major} to ${args.remote}`] : [])];
process.stdout.write(`release ${version}: CHANGELOG section, clean tree, current dist, ${files.length} package files\n${plan.map((p) => `  ${p}`).join('\n')}\n`);
if (!args.push) {
  process.stdout.write('dry run: nothing was changed (pass --push to tag and push)\n');
  process.exit(0);
}
git('tag', '-a', tag, '-m', `policy-gate ${version}`, head);
git('tag', '-f', '-a', major, '-m', `policy-gate ${version} (moving major tag)`, head);
git('push', args.remote, `refs/tags/${tag}`);
git('push', '--force', args.remote, `refs/tags/${major}`);
process.stdout.write(`released ${tag}; ${major} now points at it\n`);
