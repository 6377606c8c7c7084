/**
 * Hostile case: malformed JSON, including the bare NaN / Infinity / -Infinity tokens Python's json
 * module writes for float('nan') and float('inf') (threats.md B5; docs/threat-model.md).
 *
 * - The manifest (archive-wide): exit 2, naming the manifest entry and what is wrong.
 * - A policy card (one model's): that model's error names the card entry and the token; the other
 *   models are evaluated unchanged (exit 1 — the run cannot succeed without the model). Alone
 *   (`backtest --card`), exit 2.
 * - The training summary's metrics (SPEC section 2): a NaN or infinite metric is METRIC_INVALID and
 *   the model is DROP, with the bad value named; the run goes on, and report.json stays valid JSON.
 * - A summary that is not JSON at all: exit 2 naming it. Keys such as "__proto__" change no prototype.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { cleanupTempDirs, dec, enc, EXAMPLE_DATA, exampleFiles, runCli, tempDir } from './helpers/e2e.js';
import { exampleWith, MANIFEST, MODELS, SUMMARY, writeZip } from './helpers/hostile.js';
import { main } from '../src/cli.js';
import { parseConfigText } from '../src/config/load.js';
import { parseJsonFile } from '../src/core/json.js';
import { parseDeployDoc } from '../src/core/promotion.js';
import { parseTrainingSummary } from '../src/core/summary.js';

const END = '2024-09-10T00:00:00Z';
afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

interface Report {
  conclusion: string;
  errors: string[];
  models: { id: string; errors: string[]; flags: string[]; decision: { tier: string; reasons: string[] } | null; gating: { classification: string } | null; walkForward: unknown }[];
}

async function validate(files: Record<string, Uint8Array>): Promise<{ code: number; stdout: string; stderr: string; report: Report; text: string }> {
  const ws = tempDir('json-');
  writeZip(path.join(ws, 'archive.zip'), files);
  const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'out', '--end', END], ws);
  const text = readFileSync(path.join(ws, 'out', 'report.json'), 'utf8');
  return { ...run, report: JSON.parse(text), text };
}

/** Replaces the first match of `find` in the text file `name` (the edit keeps the rest byte for byte). */
function editText(files: Record<string, Uint8Array>, name: string, find: RegExp, replace: string): void {
  const text = dec(files[name]!);
  expect(find.test(text), `${name} has ${find}`).toBe(true);
  files[name] = enc(text.replace(find, replace));
}

const clean = (async () => validate(exampleFiles()))();

describe('the manifest', () => {
  it.each(['NaN', 'Infinity', '-Infinity'])('a %s where a sha256 belongs: exit 2 naming the manifest and the token', async (token) => {
    const files = exampleFiles();
    editText(files, MANIFEST, /"[0-9a-f]{64}"/, token);
    const r = await validate(files);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`archive\\.zip:${MANIFEST}: files\\["models/rl_symbols/BTCUSD_1Day\\.card\\.json"\\] must be a 64-digit sha256 hex string, got ${token}$`, 'm'));
    expect(r.report.errors[0]).toContain(`got ${token}`);
    expect(r.report.models).toEqual([]);
  });

  it('a manifest cut short: exit 2 naming it', async () => {
    const files = exampleFiles();
    files[MANIFEST] = files[MANIFEST]!.subarray(0, 40);
    const r = await validate(files);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`archive\\.zip:${MANIFEST}: not valid JSON`));
  });
});

describe('a manifest that lists only some files', () => {
  it('names every summary, model and card it leaves out: a log line, archive.manifest.unlisted and a note on the model', async () => {
    const files = exampleFiles();
    const doc = JSON.parse(dec(files[MANIFEST]!));
    const dropped = ['training_summary_20240911_120000.json', 'models/rl_symbols/BTCUSD_1Hour.onnx', 'models/rl_symbols/BTCUSD_1Hour.card.json'];
    for (const d of dropped) {
      expect(doc.files[d], d).toBeDefined();
      delete doc.files[d];
    }
    files[MANIFEST] = enc(JSON.stringify(doc));
    const ws = tempDir('json-partial-');
    writeZip(path.join(ws, 'archive.zip'), files);
    const run = await runCli(['gate', 'archive.zip', '--out', 'out'], ws);
    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8'));
    const unlisted = dropped.map((d) => `Alpaca_trading/${d}`).sort();
    expect(report.archive.manifest).toEqual({ path: MANIFEST, files: 11, unlisted });
    for (const p of unlisted) expect(run.stderr).toContain(`manifest ${MANIFEST} does not list ${p}: its sha256 was not checked`);
    const m1 = report.models.find((m: { id: string }) => m.id === 'BTCUSD_1Hour');
    expect(m1.notes).toEqual(expect.arrayContaining(unlisted.map((p) => expect.stringContaining(`${p}`))));
    const m4 = report.models.find((m: { id: string }) => m.id === 'BTCUSD_4Hour');
    expect(m4.notes.filter((n: string) => /not listed/.test(n))).toEqual([`${SUMMARY} (the training summary) is not listed in ${MANIFEST}: its sha256 was not checked`]);
  });
});

describe('a policy card', () => {
  const CARD = `${MODELS}/BTCUSD_4Hour.card.json`;

  it.each(['NaN', 'Infinity', '-Infinity'])('a bare %s: that model fails naming the card and the token; the others are unchanged', async (token) => {
    const r = await validate(exampleWith((f) => editText(f, CARD, /("clip":\s*)[0-9.]+/, `$1${token}`)));
    expect(r.code).toBe(1);
    const m = r.report.models.find((x) => x.id === 'BTCUSD_4Hour')!;
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toMatch(new RegExp(`archive\\.zip:${CARD.replace(/[/.]/g, '\\$&')}: not valid JSON \\(a bare ${token.replace('-', '\\-')} at line \\d+, column \\d+: `));
    expect(m.errors[0]).toMatch(/Python's json writes it for float\('nan'\) or float\('inf'\), but JSON has no such value/);
    expect(m.errors[0]).not.toContain('\n');
    expect(m.walkForward).toBeNull();
    const before = (await clean).report.models;
    for (const id of ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']) {
      expect(r.report.models.find((x) => x.id === id)).toEqual(before.find((x) => x.id === id));
    }
  });

  it('alone (backtest --card): exit 2 naming the card', async () => {
    const ws = tempDir('json-bt-');
    const files = exampleFiles();
    writeFileSync(path.join(ws, 'm.onnx'), files[`${MODELS}/BTCUSD_4Hour.onnx`]!);
    writeFileSync(path.join(ws, 'm.card.json'), dec(files[CARD]!).replace(/("clip":\s*)[0-9.]+/, '$1NaN'));
    const run = await runCli(['backtest', '--model', 'm.onnx', '--data', EXAMPLE_DATA], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/m\.card\.json: not valid JSON \(a bare NaN at line \d+, column \d+: Python's json/);
  });
});

describe('the training summary', () => {
  it.each([
    ['NaN', 'fitness_score[2] is NaN, not a finite number'],
    ['Infinity', 'fitness_score[2] is Infinity, not a finite number'],
    ['-Infinity', 'fitness_score[2] is -Infinity, not a finite number'],
  ])('a %s metric: METRIC_INVALID and DROP for that model, the run goes on', async (token, reason) => {
    // BTCUSD_4Hour's fitness history, third point.
    const files = exampleWith((f) => {
      const text = dec(f[SUMMARY]!);
      const at = text.indexOf('"BTCUSD_4Hour"');
      const fit = text.indexOf('"fitness_score"', at);
      const open = text.indexOf('[', fit);
      const values = text.slice(open + 1, text.indexOf(']', open)).split(',');
      values[2] = ` ${token}`;
      f[SUMMARY] = enc(text.slice(0, open + 1) + values.join(',') + text.slice(text.indexOf(']', open)));
    });
    const r = await validate(files);
    expect(r.code).toBe(1);
    const m = r.report.models.find((x) => x.id === 'BTCUSD_4Hour')!;
    expect(m.flags).toContain('METRIC_INVALID');
    expect(m.gating!.classification).toBe('DROP');
    expect(m.decision!.tier).toBe('DROP');
    expect(JSON.stringify(m)).toContain(reason);
    expect(m.walkForward).toBeNull(); // gated out, never evaluated
    // The other models are evaluated; report.json is plain JSON (JSON.parse read it above), so it
    // holds no bare NaN / Infinity: the token appears only inside the reason's text.
    expect(r.report.models.find((x) => x.id === 'BTCUSD_2Hour')!.walkForward).not.toBeNull();
    expect(r.text).not.toMatch(/[:,[]\s*-?(NaN|Infinity)\b/);
  });

  it('a summary that is not JSON: exit 2 naming it', async () => {
    const r = await validate(exampleWith((f) => (f[SUMMARY] = f[SUMMARY]!.subarray(0, 300))));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`archive\\.zip:${SUMMARY}: not valid JSON \\(.*\\); fix or re-export the training summary`));
  });

  it('"__proto__" and "constructor" keys pollute nothing', async () => {
    const files = exampleWith((f) => {
      const doc = JSON.parse(dec(f[SUMMARY]!));
      const text = JSON.stringify(doc).replace('"symbols":{', '"symbols":{"__proto__":{"polluted":true,"fitness_score":[1]},"constructor":{"prototype":{"polluted":true}},');
      f[SUMMARY] = enc(text);
    });
    const r = await validate(files);
    expect([1, 2]).toContain(r.code);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

// ------------------------------------------------------------------ structure: depth, duplicate keys, BOM, caps

const CARD4 = `${MODELS}/BTCUSD_4Hour.card.json`;
const CARD1D = `${MODELS}/BTCUSD_1Day.card.json`;
const CARD1 = `${MODELS}/BTCUSD_1Hour.card.json`;
const DEEP = '['.repeat(100_000) + ']'.repeat(100_000);

describe('nesting depth, duplicate keys and byte order marks', () => {
  it('backtest --card with a card nested 100,000 arrays deep: exit 2 naming the card, no stack overflow', async () => {
    const ws = tempDir('json-deep-');
    writeFileSync(path.join(ws, 'm.onnx'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.onnx`]!);
    const card = JSON.parse(dec(exampleFiles()[CARD4]!));
    writeFileSync(path.join(ws, 'deep.json'), JSON.stringify(card).replace('"window":3', `"window":3,"extra":${DEEP}`));
    const run = await runCli(['backtest', '--model', 'm.onnx', '--card', 'deep.json', '--data', EXAMPLE_DATA, '--out', 'out'], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/deep\.json: JSON nested more than 64 levels deep \(at line 1, column \d+\)/);
    expect(run.stderr).not.toMatch(/call stack|internal error/);
    expect(JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')).conclusion).toBe('failure');
  });

  it('in an archive: a deep card and a card with a duplicate key fail their models by name; a card with a BOM reads as without', async () => {
    const r = await validate(
      exampleWith((f) => {
        f[CARD4] = enc(dec(f[CARD4]!).replace('"window": 3', `"window": 3, "extra": ${DEEP}`));
        f[CARD1D] = enc(dec(f[CARD1D]!).replace('"timeframe": "1Day",', '"timeframe": "1Hour", "timeframe": "1Day",'));
        f[CARD1] = enc('\ufeff' + dec(f[CARD1]!));
      }),
    );
    expect(r.code).toBe(1);
    const byId = (id: string) => r.report.models.find((x) => x.id === id)!;
    expect(byId('BTCUSD_4Hour').errors).toEqual([expect.stringMatching(new RegExp(`archive\\.zip:${CARD4.replace(/[/.]/g, '\\$&')}: JSON nested more than 64 levels deep`))]);
    expect(byId('BTCUSD_1Day').errors).toEqual([
      expect.stringMatching(new RegExp(`archive\\.zip:${CARD1D.replace(/[/.]/g, '\\$&')}: key "timeframe" appears twice in the same object \\(line \\d+, column \\d+ and line \\d+, column \\d+\\)`)),
    ]);
    const before = (await clean).report.models;
    expect(byId('BTCUSD_1Hour')).toEqual(before.find((x) => x.id === 'BTCUSD_1Hour'));
    expect(byId('BTCUSD_2Hour')).toEqual(before.find((x) => x.id === 'BTCUSD_2Hour'));
  });

  it('a training summary with a duplicate key: exit 2 naming the key and the summary', async () => {
    const r = await validate(exampleWith((f) => editText(f, SUMMARY, /"fitness_score":/, '"fitness_score": [9, 9, 9], "fitness_score":')));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`archive\\.zip:${SUMMARY.replace(/[/.]/g, '\\$&')}: key "fitness_score" appears twice in the same object`));
    expect(r.report.models).toEqual([]);
  });

  it('a manifest with a duplicate key: exit 2 naming the key and the manifest', async () => {
    const files = exampleFiles();
    editText(files, MANIFEST, /"files": \{/, '"files": {"training_summary_20240911_120000.json": "' + '0'.repeat(64) + '",');
    const r = await validate(files);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`archive\\.zip:${MANIFEST.replace(/[/.]/g, '\\$&')}: key "training_summary_20240911_120000\\.json" appears twice`));
  });

  it('a BOM before the training summary and the manifest is accepted: the same decisions as without', async () => {
    const files = exampleWith((f) => {
      f[SUMMARY] = enc('\ufeff' + dec(f[SUMMARY]!));
    });
    // exampleWith rewrote the manifest (sums kept true); a BOM in front of it too
    files[MANIFEST] = enc('\ufeff' + dec(files[MANIFEST]!));
    const r = await validate(files);
    expect(r.code).toBe((await clean).code);
    expect(r.report.models).toEqual((await clean).report.models);
  });

  it('a summary with 1,000,000 entries in a small zip is refused from a count taken while scanning, naming the count and the cap', async () => {
    const parts: string[] = [];
    for (let i = 0; i < 1_000_000; i++) parts.push(`"S${i}_1Hour":{"metrics":{"fitness_score":[1]}}`);
    const summary = enc(`{"run_id":"x","symbols":{${parts.join(',')}}}`);
    const ws = tempDir('json-million-');
    writeZip(path.join(ws, 'archive.zip'), { [SUMMARY]: summary });
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'out', '--end', END], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"symbols" holds 1000000 entries, more than the limit of 1000 models per training summary; refusing the archive/);
    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')) as Report;
    expect(report.models).toEqual([]);
  });

  it('the summary cap counts the top-level map and a list of entries too, and 1,000 entries pass', () => {
    const entry = '{"metrics":{"fitness_score":[1]}}';
    const map = (n: number) => `{${Array.from({ length: n }, (_, i) => `"S${i}_1Hour":${entry}`).join(',')}}`;
    const list = (n: number) => `{"symbols":[${Array.from({ length: n }, (_, i) => `{"symbol":"S${i}","metrics":{"fitness_score":[1]}}`).join(',')}]}`;
    expect(parseTrainingSummary(map(1000), 's.json').entries).toHaveLength(1000);
    expect(() => parseTrainingSummary(map(1001), 's.json')).toThrow(/s\.json: the training summary holds 1001 entries, more than the limit of 1000/);
    expect(() => parseTrainingSummary(list(1001), 's.json')).toThrow(/s\.json: "symbols" holds 1001 entries, more than the limit of 1000/);
    expect(parseTrainingSummary(list(1000), 's.json').entries).toHaveLength(1000);
  });

  it('config JSON and deployment files (YAML or JSON) are checked for depth too; a config BOM is accepted', () => {
    expect(() => parseConfigText(`{"decision": ${DEEP}}`, 'c.json')).toThrow(/c\.json: JSON nested more than 64 levels deep/);
    const deepYaml = '['.repeat(5000) + ']'.repeat(5000); // the yaml parser's own recursion gives out near 800
    expect(() => parseConfigText(`decision: ${deepYaml}\n`, 'c.yml')).toThrow(/c\.yml: not valid YAML: nested too deeply to read/);
    const deep100 = '['.repeat(100) + ']'.repeat(100);
    expect(() => parseConfigText(`decision: ${deep100}\n`, 'c.yml')).toThrow(/c\.yml: nested more than 64 levels deep/);
    expect(() => parseDeployDoc(`models: ${deep100}\n`, 'deploy/paper.yml')).toThrow(/deploy\/paper\.yml: nested more than 64 levels deep/);
    expect(() => parseDeployDoc(`{"models": ${deepYaml}}`, 'deploy/paper.json')).toThrow(/deploy\/paper\.json: not valid JSON or YAML: nested too deeply/);
    expect(parseConfigText('\ufeff{"backtest": {"days": 45}}', 'c.json').backtest.days).toBe(45);
    expect(() => parseConfigText('{"backtest": {"days": 45, "days": 60}}', 'c.json')).toThrow(/c\.json: key "days" appears twice/);
  });

  it('keys are shown escaped and capped: an invisible or long duplicate key cannot hide', () => {
    const key = '\u202e' + 'k'.repeat(200);
    let message = '';
    try {
      parseJsonFile(`{${JSON.stringify(key)}: 1, ${JSON.stringify(key)}: 2}`, 'x.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^x\.json: key "\\u202ekkkk/);
    expect(message).not.toContain('\u202e');
    expect(message).not.toContain('k'.repeat(100));
  });
});

describe('backtest exit codes for bad input', () => {
  async function backtestWithEnv(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string; stdout: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), now: () => new Date('2025-01-02T00:00:00Z'), cwd, env });
    return { code, stdout, stderr };
  }

  it('an invalid card (a schema error found while evaluating): exit 2, the report written', async () => {
    const ws = tempDir('json-badcard-');
    writeFileSync(path.join(ws, 'm.onnx'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.onnx`]!);
    const card = JSON.parse(dec(exampleFiles()[CARD4]!));
    card.observation.window = -3;
    writeFileSync(path.join(ws, 'bad.card.json'), JSON.stringify(card));
    const run = await runCli(['backtest', '--model', 'm.onnx', '--card', 'bad.card.json', '--data', EXAMPLE_DATA, '--out', 'out'], ws);
    expect(run.code).toBe(2);
    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')) as Report;
    expect(report.models[0]!.errors[0]).toMatch(/bad\.card\.json/);
    expect(report.models[0]!.errors[0]).toMatch(/window/);
  });

  it('an unparseable APCA_API_DATA_URL: exit 2, and its password is never echoed', async () => {
    const ws = tempDir('json-badurl-');
    mkdirSync(path.join(ws, 'm'));
    writeFileSync(path.join(ws, 'm', 'BTCUSD_4Hour.onnx'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.onnx`]!);
    writeFileSync(path.join(ws, 'm', 'BTCUSD_4Hour.card.json'), exampleFiles()[CARD4]!);
    const password = 'hunter2-p@ss';
    const url = `https://trader:${password}@data alpaca.example/`;
    const run = await backtestWithEnv(['backtest', '--model', 'm/BTCUSD_4Hour.onnx', '--data', 'alpaca', '--out', 'out', '--end', END], ws, {
      APCA_API_DATA_URL: url,
    });
    expect(run.code).toBe(2);
    const everything = run.stdout + run.stderr + readFileSync(path.join(ws, 'out', 'report.json'), 'utf8') + readFileSync(path.join(ws, 'out', 'report.md'), 'utf8');
    expect(everything).toContain('APCA_API_DATA_URL is not a URL: "https://***@');
    for (const secret of ['hunter2', 'trader', encodeURIComponent(password)]) expect(everything).not.toContain(secret);
  });
});
