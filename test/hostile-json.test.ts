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
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { cleanupTempDirs, dec, enc, EXAMPLE_DATA, exampleFiles, runCli, tempDir } from './helpers/e2e.js';
import { exampleWith, MANIFEST, MODELS, SUMMARY, writeZip } from './helpers/hostile.js';

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
