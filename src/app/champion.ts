/**
 * Champion/challenger (docs/evidence.md): when a deployment config (promotion.live, then
 * promotion.paper) already holds a model with the challenger's id — the same symbol and timeframe —
 * that deployed model (the entry's `model` and `card`, repository-relative, as `policy-gate promote`
 * writes them) runs on exactly the challenger's folds, and the report gets the per-fold return
 * differences with a paired t-test and a sign test.
 *
 * Nothing here can fail the challenger: a champion that cannot be read, loaded or evaluated leaves
 * `evidence.champion` null with the reason.
 */
import { readUntrustedFile, readUntrustedText } from '../util/safe-read.js';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { compareChampion } from '../core/evidence.js';
import { errorMessage, PolicyGateError } from '../core/errors.js';
import { parseJsonFile } from '../core/json.js';
import { deployedEntry } from '../core/promotion.js';
import type { ModelReport } from '../core/report.js';
import { loadPolicyModel, MAX_MODEL_BYTES, modelTooLarge } from '../adapters/onnx/session.js';
import { sha256 } from '../util/hash.js';
import { describeError, evaluateModel, type BarsProvider } from './evaluate.js';
import { folderCardFiles } from './feature-graph.js';
import { readDeployFiles } from './promote.js';

export interface ChampionOptions {
  config: Config;
  /** The repository root the deployment configs and their entries' files are relative to. */
  root: string;
  getBars: BarsProvider;
  endMs: number | undefined;
  log: (line: string) => void;
  /** The onnxruntime slot to load the champion in (the worker's own; ../adapters/onnx/host.ts). */
  slot?: number;
}

/** Runs the deployed champion of `m.id` on m's folds and records the comparison in m.evidence. */
export async function compareWithChampion(m: ModelReport, opts: ChampionOptions): Promise<void> {
  const evidence = m.evidence;
  const wf = m.walkForward;
  if (!evidence || !wf) return;
  const fail = (why: string): void => {
    evidence.champion = null;
    evidence.undefinedReasons['champion'] = why;
  };
  try {
    const deploy = await readDeployFiles(opts.root, opts.config.promotion);
    let found: { tier: 'LIVE' | 'PAPER'; file: string; entry: Record<string, unknown> } | null = null;
    for (const [tier, key] of [
      ['LIVE', 'live'],
      ['PAPER', 'paper'],
    ] as const) {
      const entry = deploy.configs[key].models[m.id];
      if (entry) {
        found = { tier, file: deploy.paths[key], entry };
        break;
      }
    }
    if (!found) return fail(`no deployed champion: neither ${deploy.paths.live} nor ${deploy.paths.paper} lists ${m.id}`);
    const rec = deployedEntry(found.entry, m.id, found.file);
    if (!rec.ok) return fail(`the champion in ${found.file} cannot be run: ${rec.why}`);
    const { model: modelPath, card: cardPath } = rec.entry;

    let bytes: Buffer;
    try {
      bytes = await readUntrustedFile(resolve(opts.root, modelPath), { root: opts.root, what: 'champion model', maxBytes: MAX_MODEL_BYTES, tooLarge: (size) => modelTooLarge(modelPath, size) });
    } catch (err) {
      if (err instanceof PolicyGateError) return fail(err.message);
      return fail(`the champion ${modelPath} (${found.file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
    const digest = sha256(bytes);
    if (m.model?.sha256 && digest === m.model.sha256) {
      return fail(`${found.file} already deploys this exact model (${modelPath}, same sha256): there is no other model to compare with`);
    }
    let cardJson: unknown;
    try {
      cardJson = parseJsonFile(await readUntrustedText(resolve(opts.root, cardPath), { root: opts.root, what: 'policy card' }), cardPath);
    } catch (err) {
      if (err instanceof PolicyGateError) return fail(err.message);
      return fail(`the champion's card ${cardPath} (${found.file}) cannot be read as JSON: ${errorMessage(err)}`);
    }

    const champion: ModelReport = {
      id: m.id,
      symbol: m.symbol,
      timeframe: m.timeframe,
      assetClass: null,
      assetClassGuessed: false,
      candidate: `champion (${found.file})`,
      model: { path: modelPath, sha256: digest, inputs: [], outputs: [] },
      card: { path: cardPath, inline: false },
      gating: null,
      flags: [],
      train: { start: null, end: null },
      backtest: null,
      walkForward: null,
      requested: m.requested,
      decision: null,
      dataQuality: [],
      errors: [],
      notes: [],
    };
    const model = await loadPolicyModel(bytes, {
      device: opts.config.runtime.device,
      label: modelPath,
      timeoutSeconds: opts.config.runtime.inferenceTimeoutSeconds,
      slot: opts.slot ?? 0,
    });
    try {
      await evaluateModel(champion, model, cardJson, cardPath, opts.getBars, {
        config: opts.config,
        endMs: opts.endMs,
        backtestDays: opts.config.backtest.days,
        walkForward: { days: wf.days, folds: wf.folds.length },
        equityOut: null,
        log: opts.log,
        evidence: false,
        cardFiles: folderCardFiles(resolve(opts.root, cardPath), opts.root),
        slot: opts.slot ?? 0,
      });
    } catch (err) {
      return fail(`the champion ${modelPath} (${found.file}) could not be evaluated: ${champion.errors[0] ?? describeError(err)}`);
    } finally {
      await model.release();
    }
    const theirs = champion.walkForward?.folds ?? [];
    const same = theirs.length === wf.folds.length && theirs.every((f, i) => f.start === wf.folds[i]!.start && f.end === wf.folds[i]!.end);
    if (!same) return fail(`the champion's folds do not cover the same bars as the challenger's (${theirs.length} vs ${wf.folds.length} folds); not compared`);
    const row = (f: (typeof theirs)[number]): { index: number; totalReturn: number | null; sharpe: number | null } => ({
      index: f.index,
      totalReturn: f.metrics.totalReturn,
      sharpe: f.metrics.sharpe,
    });
    evidence.champion = compareChampion(wf.folds.map(row), theirs.map(row), {
      source: found.file,
      tier: found.tier,
      path: modelPath,
      card: cardPath,
      sha256: digest,
    });
    delete evidence.undefinedReasons['champion'];
    const c = evidence.champion;
    opts.log(
      `${m.id}: vs champion ${modelPath} (${found.tier}): mean fold return difference ${c.meanDifference === null ? '—' : `${(c.meanDifference * 100).toFixed(2)}%`}` +
        `, paired t p ${c.tTest.p === null ? '—' : c.tTest.p.toFixed(3)}, sign test p ${c.signTest.p === null ? '—' : c.signTest.p.toFixed(3)}`,
    );
  } catch (err) {
    fail(`the champion could not be compared: ${describeError(err)}`);
  }
}
