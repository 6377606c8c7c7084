/**
 * Installs with the npm of Node 20 and 22 (npm 10, from the `npm10` dev dependency) and with the npm
 * running these tests (npm 11 on the supported machines), the way a user does:
 *
 * - onnxruntime-node's install script downloads CUDA libraries from outside the npm registry. npm 11
 *   skips it through package.json's `allowScripts`; npm 10 ignores `allowScripts` and runs it, so the
 *   repository's `.npmrc` line `onnxruntime-node-install=skip` is what stops it there.
 * - A project that installs the packed CLI has its own `.npmrc`: the README tells it to add the same
 *   line, and this proves that the line is enough, on npm 10 and on npm 11, and that the installed CLI
 *   runs the example.
 *
 * Every download attempt of the install script goes to a closed port on 127.0.0.1 (onnxruntime-node's
 * script routes its downloads through global-agent, which honours GLOBAL_AGENT_HTTPS_PROXY), so a
 * script that was not skipped fails at once, here and on a machine with internet alike. npm itself
 * reads packages from its cache and the npm registry (`--prefer-offline`).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, REPO, tempDir } from './helpers/e2e.js';

const NPM10 = path.join(REPO, 'node_modules', 'npm10', 'bin', 'npm-cli.js');
const PKG = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
const ORT_VERSION = PKG.dependencies['onnxruntime-node']!;
const CUDA_LIBS = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'];

/** The npm that runs this test (npm_execpath under `npm test`), else the first npm on PATH. */
function currentNpm(): string[] {
  const exec = process.env.npm_execpath;
  if (exec && /npm-cli\.js$/.test(exec)) return [process.execPath, exec];
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (!bin) throw new Error('no npm on PATH');
  return [bin];
}

let closedPort = 0;

beforeAll(async () => {
  // A port that was just free and is closed again: every connection to it is refused at once.
  closedPort = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
});

afterAll(cleanupTempDirs, 300_000);

/** An environment without the npm_* variables of the npm running the tests (they would carry this repo's config). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^onnxruntime_node_install/i.test(k) || /^GLOBAL_AGENT_/.test(k)) continue;
    env[k] = v;
  }
  env.GLOBAL_AGENT_HTTPS_PROXY = `http://127.0.0.1:${closedPort}`;
  env.GLOBAL_AGENT_HTTP_PROXY = `http://127.0.0.1:${closedPort}`;
  env.CI = 'true';
  return env;
}

function npm(cmd: string[], args: string[], cwd: string): SpawnSyncReturns<string> {
  const [exe, ...pre] = cmd;
  return spawnSync(exe!, [...pre, ...args], { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 300_000 });
}

function npmMajor(cmd: string[]): number {
  const r = npm(cmd, ['--version'], REPO);
  return Number(r.stdout.trim().split('.')[0]);
}

function ortBin(root: string): string {
  return path.join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
}

const INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'];

it("every package the lockfile installs accepts the README's minimum Node (no EBADENGINE warning on Node 20)", () => {
  const semver = createRequire(import.meta.url)('semver') as {
    minVersion(range: string): { version: string } | null;
    satisfies(version: string, range: string): boolean;
  };
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
  const minimum = semver.minVersion(pkg.engines.node)!.version;
  expect(readFileSync(path.join(REPO, 'README.md'), 'utf8')).toContain(`Node.js ≥ ${minimum.replace(/\.0$/, '')}`);
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string } | string[] }>;
  };
  const refused = Object.entries(lock.packages)
    .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node && !semver.satisfies(minimum, p.engines.node))
    .map(([name, p]) => `${name} (node ${(p.engines as { node: string }).node})`);
  expect(refused).toEqual([]);
});

describe.runIf(process.platform === 'linux' && process.arch === 'x64')('installing with npm 10 and npm 11', () => {
  it('the npm 10 dev dependency is npm 10, and the tests run under another major', () => {
    expect(npmMajor([process.execPath, NPM10])).toBe(10);
    expect(npmMajor(currentNpm())).toBeGreaterThanOrEqual(10);
  });

  it("npm 10 runs onnxruntime-node's install script; the repository's .npmrc line makes it skip the CUDA download", () => {
    const make = (npmrc: string): string => {
      const dir = tempDir('npm10-');
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'npm10-check', private: true, dependencies: { 'onnxruntime-node': ORT_VERSION } }));
      writeFileSync(path.join(dir, '.npmrc'), npmrc);
      return dir;
    };
    const repoNpmrc = readFileSync(path.join(REPO, '.npmrc'), 'utf8');

    // Without the line: npm 10 runs the script, which tries to download (refused here) and fails the install.
    const bare = make(repoNpmrc.replace(/^onnxruntime-node-install=.*$/m, ''));
    const failed = npm([process.execPath, NPM10], INSTALL, bare);
    expect(failed.status, failed.stdout + failed.stderr).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain('node ./script/install');

    // With the repository's .npmrc as it is: the script runs and exits at once, the CPU runtime is there.
    const dir = make(repoNpmrc);
    const ok = npm([process.execPath, NPM10], INSTALL, dir);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toContain('node ./script/install');
    const files = readdirSync(ortBin(dir));
    expect(files).toContain('onnxruntime_binding.node');
    for (const lib of CUDA_LIBS) expect(files).not.toContain(lib);
    const load = spawnSync(process.execPath, ['-e', "require('onnxruntime-node'); console.log('loaded')"], { cwd: dir, encoding: 'utf8' });
    expect(load.stdout.trim()).toBe('loaded');
  }, 600_000);

  it('a project that installs the packed CLI with the documented .npmrc line: npm 10 and npm 11 install it, and it runs the example', () => {
    // Pack what `npm pack` would publish: package.json's `files` (bin, lib, schemas, README.md, LICENSE), lib built fresh.
    const stage = tempDir('pack-');
    execTsc(path.join(stage, 'lib'));
    const files = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { files: string[] }).files;
    expect(files.sort()).toEqual(['LICENSE', 'README.md', 'bin', 'lib', 'schemas']);
    for (const f of [...files.filter((x) => x !== 'lib'), 'package.json']) cpSync(path.join(REPO, f), path.join(stage, f), { recursive: true });
    const packed = npm(currentNpm(), ['pack', '--ignore-scripts', '--json'], stage);
    expect(packed.status, packed.stderr).toBe(0);
    // What the tarball holds: the CLI, the library with its declarations, the schemas; no sources, tests or dist.
    const listed = (JSON.parse(packed.stdout) as Array<{ files: { path: string }[] }>)[0]!.files.map((f) => f.path);
    expect(listed).toEqual(expect.arrayContaining(['bin/policy-gate.js', 'lib/index.js', 'lib/index.d.ts', 'lib/cli.js', 'schemas/policy-card.json', 'package.json', 'LICENSE']));
    expect(listed.filter((p) => /^(src|test|dist|examples)\//.test(p))).toEqual([]);
    const tarball = path.join(stage, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
    expect(existsSync(tarball)).toBe(true);

    for (const cmd of [[process.execPath, NPM10], currentNpm()]) {
      const major = npmMajor(cmd);
      const consumer = tempDir(`consumer-npm${major}-`);
      writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'trading-models', private: true }));
      writeFileSync(path.join(consumer, '.npmrc'), 'onnxruntime-node-install=skip\n');
      const r = npm(cmd, [...INSTALL, tarball], consumer);
      expect(r.status, `npm ${major}: ${r.stdout}${r.stderr}`).toBe(0);
      for (const lib of CUDA_LIBS) expect(existsSync(path.join(ortBin(consumer), lib))).toBe(false);

      const out = path.join(consumer, 'report');
      const run = spawnSync(process.execPath, [path.join(consumer, 'node_modules', 'policy-gate', 'bin', 'policy-gate.js'), 'validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out], {
        cwd: consumer,
        encoding: 'utf8',
        timeout: 120_000,
      });
      // The example is mixed by design: conclusion failure, exit 1, every decision printed.
      expect(run.status, run.stderr).toBe(1);
      expect(run.stdout).toContain('DECISIONS');
      expect(run.stdout).toMatch(/^BTCUSD_4Hour\s+REVIEW\s/m);
      expect(existsSync(path.join(out, 'report.json'))).toBe(true);

      // The library: the package's main export and its published schemas, by package name.
      const lib = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import('policy-gate');
           const card = (await import('policy-gate/schemas/policy-card.json', { with: { type: 'json' } })).default;
           console.log(JSON.stringify({ fns: ['runValidate', 'runBacktest', 'runGate', 'parseCard', 'defaultConfig', 'cardSchema'].map((k) => typeof m[k]), days: m.defaultConfig().walkForward.days, title: card.title }));`,
        ],
        { cwd: consumer, encoding: 'utf8', timeout: 60_000 },
      );
      expect(lib.status, lib.stderr).toBe(0);
      expect(JSON.parse(lib.stdout)).toEqual({ fns: Array(6).fill('function'), days: 180, title: 'policy card (policy-card/1)' });
      expect(existsSync(path.join(consumer, 'node_modules', 'policy-gate', 'lib', 'index.d.ts'))).toBe(true);
    }
  }, 600_000);
});

function execTsc(outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (!existsSync(path.join(outDir, 'cli.js'))) throw new Error(`tsc did not build lib/: ${r.stdout}${r.stderr}`);
}
