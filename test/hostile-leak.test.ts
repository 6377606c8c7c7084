/**
 * Hostile case: a pull request that makes policy-gate read a file outside the checkout and quote it
 * (docs/threat-model.md, "Files a pull request controls" and "Secrets").
 *
 * The attack: `examples/data/BTCUSD_4Hour.csv -> /proc/self/environ` (or `~/.git-credentials`, or any
 * file holding a token in its first line). Reading bars follows the link, the "no timestamp column"
 * error quotes the first line, and the error reaches report.json, report.md, the PR comment, the check
 * run and the job summary — markdown-escaped as `ghs\_…`, which GitHub renders as the token.
 *
 * Two defences, each proved on its own:
 * 1. Files from the workspace (bars, the config file, deployment configs, models and cards by path)
 *    are read only as regular files reached without a symbolic link; anything else is refused naming
 *    the path. Quoted file content is at most 80 characters, escaped.
 * 2. Every output is redacted as data, before rendering: even a REGULAR bars file whose header holds
 *    the token (or the value of any secret-looking variable) leaks it nowhere, in no form (plain,
 *    URL-encoded, base64, base64url, markdown-, HTML- and JSON-escaped).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { readUntrustedText } from '../src/util/safe-read.js';
import { readAlpacaKeys } from '../src/adapters/alpaca/index.js';
import { excerpt } from '../src/util/visible.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';
import { buildBundle, cleanupHarness, everything, EXAMPLE_ZIP_NAME, NAME, OWNER, pullRequestPayload, runAction, workspace, type Bundle } from './helpers/action-harness.js';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, exampleFiles, MODELS_DIR, tempDir } from './helpers/e2e.js';
import { findLeaks, readAll } from './helpers/hostile.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_leakTokenValue_0123456789abcdefABCD';
/** A secret that policy-gate knows only because its variable's name looks secret. */
const PASSWORD = 'hunter2_Pa55word_value';
const SECRETS = [TOKEN, PASSWORD];
const END = '2024-09-10T00:00:00Z';

afterAll(async () => {
  await shutdownOrtHost();
  cleanupHarness();
  cleanupTempDirs();
});

/** A file outside the workspace whose first line is the token, the way ~/.git-credentials or an env dump would hold it. */
function secretFile(dir: string): string {
  const f = path.join(dir, 'outside-secret.txt');
  writeFileSync(f, `https://x-access-token:${TOKEN}@github.com,${PASSWORD}\ntimestamp,open\n`);
  return f;
}

/** The example bars copied into `<ws>/data`, with `edit` applied. */
function dataDir(ws: string, edit: (dir: string) => void): string {
  const dir = path.join(ws, 'data');
  cpSync(EXAMPLE_DATA, dir, { recursive: true });
  edit(dir);
  return dir;
}

async function cli(ws: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string; outputs: Record<string, string> }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    now: () => new Date('2024-09-11T18:30:00Z'),
    cwd: ws,
    env: { PATH: process.env['PATH'] ?? '', GITHUB_TOKEN: TOKEN, DEPLOY_PASSWORD: PASSWORD },
  });
  const outputs: Record<string, string> = { stdout, stderr };
  for (const sub of ['out', 'equity']) {
    try {
      for (const [k, v] of Object.entries(readAll(path.join(ws, sub)))) outputs[`${sub}/${k}`] = v;
    } catch {
      // not written
    }
  }
  return { code, stdout, stderr, outputs };
}

const validateArgs = ['validate', EXAMPLE_ZIP, '--data', 'data', '--out', 'out', '--equity-out', 'equity', '--end', END];

describe('CLI: a bars file that is a symbolic link out of --data', () => {
  it('validate: the model is refused naming the link, nothing of the file appears anywhere', async () => {
    const ws = tempDir('leak-');
    const target = secretFile(tempDir('outside-'));
    dataDir(ws, (d) => {
      rmSync(path.join(d, 'BTCUSD_4Hour.csv'));
      symlinkSync(target, path.join(d, 'BTCUSD_4Hour.csv'));
    });
    const r = await cli(ws, validateArgs);
    expect(r.code, r.stderr).toBe(2); // the bars are the run's input: that model is not evaluated
    const report = JSON.parse(r.outputs['out/report.json']!);
    const m = report.models.find((x: { id: string }) => x.id === 'BTCUSD_4Hour');
    expect(m.errors.join(' ')).toMatch(
      /bars file \S*data\/BTCUSD_4Hour\.csv is a symbolic link; refusing to read it\. policy-gate reads only regular files inside \S*data, never through a symbolic link/,
    );
    // The other models are evaluated as usual.
    expect(report.models.find((x: { id: string }) => x.id === 'BTCUSD_1Hour').errors).toEqual([]);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
    expect(JSON.stringify(r.outputs)).not.toContain('x-access-token');
  });

  it('backtest: exit 2, naming the path', async () => {
    const ws = tempDir('leak-bt-');
    const target = secretFile(tempDir('outside-'));
    dataDir(ws, (d) => {
      rmSync(path.join(d, 'BTCUSD_1Hour.csv'));
      symlinkSync(target, path.join(d, 'BTCUSD_1Hour.csv'));
    });
    const files = path.join(ws, 'm');
    mkdirSync(files);
    const zip = exampleFiles();
    for (const ext of ['onnx', 'card.json']) writeFileSync(path.join(files, `BTCUSD_1Hour.${ext}`), zip[`${MODELS_DIR}/BTCUSD_1Hour.${ext}`]!);
    const r = await cli(ws, ['backtest', '--model', 'm/BTCUSD_1Hour.onnx', '--data', 'data', '--out', 'out', '--end', END]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bars file \S*data\/BTCUSD_1Hour\.csv is a symbolic link; refusing to read it/);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
    expect(JSON.stringify(r.outputs)).not.toContain('x-access-token');
  });

  it('/proc/self/environ behind the link: refused before a byte is read', async () => {
    const ws = tempDir('leak-proc-');
    dataDir(ws, (d) => {
      rmSync(path.join(d, 'BTCUSD_2Hour.csv'));
      symlinkSync('/proc/self/environ', path.join(d, 'BTCUSD_2Hour.csv'));
    });
    const r = await cli(ws, validateArgs);
    const report = JSON.parse(r.outputs['out/report.json']!);
    expect(report.models.find((x: { id: string }) => x.id === 'BTCUSD_2Hour').errors.join(' ')).toContain('/BTCUSD_2Hour.csv is a symbolic link');
    expect(JSON.stringify(r.outputs)).not.toMatch(/PATH=|found columns/);
  });

  it.each([
    ['a named pipe (FIFO)', (f: string) => execFileSync('mkfifo', [f])],
    ['a folder', (f: string) => mkdirSync(f)],
  ])('a bars "file" that is %s is refused, never read (a FIFO would block the run forever)', async (kind, make) => {
    const ws = tempDir('leak-special-');
    dataDir(ws, (d) => {
      rmSync(path.join(d, 'BTCUSD_4Hour.csv'));
      make(path.join(d, 'BTCUSD_4Hour.csv'));
    });
    const r = await cli(ws, validateArgs);
    const report = JSON.parse(r.outputs['out/report.json']!);
    expect(report.models.find((x: { id: string }) => x.id === 'BTCUSD_4Hour').errors.join(' ')).toMatch(
      new RegExp(`bars file \\S*data/BTCUSD_4Hour\\.csv is ${kind.replace(/[()]/g, '\\$&')}, not a regular file; refusing to read it`),
    );
  });

  it('a config file, or a folder on its way, that is a symbolic link: exit 2 naming it', async () => {
    const ws = tempDir('leak-config-');
    const outside = tempDir('outside-');
    const target = secretFile(outside);
    symlinkSync(target, path.join(ws, 'c.yml'));
    const direct = await cli(ws, ['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--config', 'c.yml', '--end', END]);
    expect(direct.code).toBe(2);
    expect(direct.stderr).toContain(`config file ${path.join(ws, 'c.yml')} is a symbolic link; refusing to read it`);
    symlinkSync(outside, path.join(ws, 'conf'));
    writeFileSync(path.join(outside, 'c.yml'), 'backtest: { days: 30 }\n');
    const via = await cli(ws, ['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--config', 'conf/c.yml', '--end', END]);
    expect(via.code).toBe(2);
    expect(via.stderr).toContain('is reached through a symbolic link (conf)');
    for (const r of [direct, via]) expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });
});

describe('CLI: redaction works on the data, before any rendering', () => {
  it('a regular bars file quoting the token and a secret-looking variable: no form of either in any output', async () => {
    const ws = tempDir('leak-regular-');
    dataDir(ws, (d) => writeFileSync(path.join(d, 'BTCUSD_4Hour.csv'), `${TOKEN},${PASSWORD}\n2024-01-01T00:00:00Z,1\n`));
    const r = await cli(ws, validateArgs);
    expect(r.code).toBe(2); // the bars are the run's input
    const report = JSON.parse(r.outputs['out/report.json']!);
    const err = report.models.find((x: { id: string }) => x.id === 'BTCUSD_4Hour').errors.join(' ');
    expect(err).toContain('no timestamp column');
    expect(err).toContain('found columns: [REDACTED], [REDACTED]');
    expect(r.outputs['out/report.md']).toContain('\\[REDACTED\\]');
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });

  it('quoted file content is at most 80 characters, with an ellipsis, its control characters visible', async () => {
    const ws = tempDir('leak-long-');
    const header = `\u001b]52;c;${'A'.repeat(3000)}\u0007,x`;
    dataDir(ws, (d) => writeFileSync(path.join(d, 'BTCUSD_4Hour.csv'), `${header}\n2024-01-01T00:00:00Z,1\n`));
    const r = await cli(ws, validateArgs);
    const report = JSON.parse(r.outputs['out/report.json']!);
    const err: string = report.models.find((x: { id: string }) => x.id === 'BTCUSD_4Hour').errors.join(' ');
    const quoted = err.slice(err.indexOf('found columns: ') + 'found columns: '.length);
    expect(quoted).toBe(`${excerpt(header.replace(',', ', '))}`);
    expect(quoted.startsWith('\\x1b]52;c;AAAA')).toBe(true);
    expect(quoted.endsWith('…')).toBe(true);
    expect(Array.from(quoted.replace('\\x1b', '\u001b').slice(0, -1))).toHaveLength(80);
    expect(err).not.toContain('\u001b');
    expect(r.stdout + r.stderr).not.toContain('A'.repeat(200));
  });
});

describe("the user's own keys file", () => {
  it('ALPACA_KEYS_FILE naming a FIFO is refused at once (reading it would block); a link to a regular file is followed', () => {
    const dir = tempDir('keys-');
    const fifo = path.join(dir, 'keys.fifo');
    execFileSync('mkfifo', [fifo]);
    expect(() => readAlpacaKeys({ ALPACA_KEYS_FILE: fifo })).toThrow(`ALPACA_KEYS_FILE names ${fifo}, which is not a regular file`);
    writeFileSync(path.join(dir, 'keys.env'), 'APCA_API_KEY_ID=PKLINKED\nAPCA_API_SECRET_KEY=linked-secret\n');
    symlinkSync(path.join(dir, 'keys.env'), path.join(dir, 'mounted'));
    expect(readAlpacaKeys({ ALPACA_KEYS_FILE: path.join(dir, 'mounted') })).toMatchObject({ keyId: 'PKLINKED', secret: 'linked-secret' });
  });
});

describe('CLI: a policy card given by path that is a symbolic link', () => {
  it('backtest --card: exit 2 naming it', async () => {
    const ws = tempDir('leak-card-');
    const zip = exampleFiles();
    mkdirSync(path.join(ws, 'm'));
    writeFileSync(path.join(ws, 'm', 'BTCUSD_1Hour.onnx'), zip[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!);
    symlinkSync(secretFile(tempDir('outside-')), path.join(ws, 'm', 'card.json'));
    const r = await cli(ws, ['backtest', '--model', 'm/BTCUSD_1Hour.onnx', '--card', 'm/card.json', '--data', EXAMPLE_DATA, '--end', END]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/policy card \S*m\/card\.json is a symbolic link; refusing to read it/);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
    expect(JSON.stringify(r.outputs)).not.toContain('x-access-token');
  });
});

describe('readUntrustedText', () => {
  it('reads a regular file; refuses a path outside the root; rethrows ENOENT as it is', async () => {
    const root = tempDir('safe-');
    writeFileSync(path.join(root, 'a.csv'), 'x');
    await expect(readUntrustedText(path.join(root, 'a.csv'), { root, what: 'bars file' })).resolves.toBe('x');
    await expect(readUntrustedText(path.join(root, '..', 'b.csv'), { root, what: 'bars file' })).rejects.toThrow(/lies outside/);
    await expect(readUntrustedText(path.join(root, 'missing.csv'), { root, what: 'bars file' })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('Action: a pull request whose bars file points outside the checkout', () => {
  let bundle: Bundle;
  let fake: FakeGitHub;
  beforeAll(async () => {
    bundle = await buildBundle();
  }, 60_000);
  beforeEach(async () => {
    await fake?.close();
    fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
    fake.state.pullFiles.set(7, [{ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' }]);
  });
  afterAll(async () => {
    await fake?.close();
  });

  const run = (edit: (dir: string) => void) =>
    runAction(bundle, fake, {
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7 }),
      inputs: { archive: `examples/${EXAMPLE_ZIP_NAME}`, data: 'examples/data' },
      token: TOKEN,
      ws: workspace(edit),
      env: { GITHUB_TOKEN: TOKEN, DEPLOY_PASSWORD: PASSWORD },
    });

  it('a symbolic link: the model fails naming it; the comment, check run, summary, outputs and report hold no form of the secret', async () => {
    const outside = tempDir('outside-');
    const target = secretFile(outside);
    const r = await run((dir) => {
      const f = path.join(dir, 'examples', 'data', 'BTCUSD_4Hour.csv');
      rmSync(f);
      symlinkSync(target, f);
    });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const report = JSON.parse(readFileSync(path.join(r.ws.dir, 'policy-gate-report', 'report.json'), 'utf8'));
    expect(report.models.find((x: { id: string }) => x.id === 'BTCUSD_4Hour').errors.join(' ')).toContain('BTCUSD_4Hour.csv is a symbolic link; refusing to read it');
    expect(fake.state.comments.get(7)!.at(-1)!.body).toContain('is a symbolic link');
    const outputs = everything(r, fake);
    expect(findLeaks(outputs, SECRETS)).toEqual([]);
    expect(JSON.stringify(outputs)).not.toContain('x-access-token');
    // The runner was told to mask the secret-looking variable too.
    expect(r.stdout.split('\n')).toContain(`::add-mask::${PASSWORD}`);
  }, 90_000);

  it('a regular bars file quoting the token: redacted as data, so no escaping hides it', async () => {
    const r = await run((dir) => writeFileSync(path.join(dir, 'examples', 'data', 'BTCUSD_4Hour.csv'), `${TOKEN},${PASSWORD}\n2024-01-01T00:00:00Z,1\n`));
    expect(r.code).toBe(1);
    const comment = fake.state.comments.get(7)!.at(-1)!.body;
    expect(comment).toContain('found columns: \\[REDACTED\\], \\[REDACTED\\]');
    expect(findLeaks(everything(r, fake), SECRETS)).toEqual([]);
  }, 90_000);

  it('a data folder reached through a symbolic link, a config file and a deployment config that are one: refused naming them', async () => {
    const outside = tempDir('outside-');
    cpSync(EXAMPLE_DATA, path.join(outside, 'data'), { recursive: true });
    const data = await run((dir) => {
      rmSync(path.join(dir, 'examples', 'data'), { recursive: true });
      symlinkSync(path.join(outside, 'data'), path.join(dir, 'examples', 'data'));
    });
    expect(data.code).toBe(1);
    expect(fake.state.checkRuns.at(-1)!.output!.title).toContain('input "data": examples/data is reached through a symbolic link (examples/data)');

    const target = secretFile(outside);
    const config = await run((dir) => {
      rmSync(path.join(dir, '.github', 'policy-gate.yml'));
      symlinkSync(target, path.join(dir, '.github', 'policy-gate.yml'));
    });
    expect(config.code).toBe(1);
    expect(fake.state.checkRuns.at(-1)!.output!.title).toMatch(/config file .*policy-gate\.yml is a symbolic link; refusing to read it/);

    const deploy = await run((dir) => {
      rmSync(path.join(dir, 'deploy', 'paper.yml'));
      symlinkSync(target, path.join(dir, 'deploy', 'paper.yml'));
    });
    expect(deploy.code).toBe(1);
    expect(fake.state.checkRuns.at(-1)!.output!.title).toMatch(/deployment config \S*deploy\/paper\.yml is a symbolic link; refusing to read it/);
    for (const r of [data, config, deploy]) {
      expect(findLeaks(everything(r, fake), SECRETS)).toEqual([]);
      expect(JSON.stringify(everything(r, fake))).not.toContain('x-access-token');
    }
  }, 90_000);
});
