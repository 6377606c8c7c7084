/**
 * The evidence of a model (docs/evidence.md) as a markdown block (report.md, the PR comment, the job
 * summary) and as a few terminal lines. Pure.
 */
import type { Evidence } from '../evidence.js';
import { fixed, pct } from './format.js';

type Escape = (text: string) => string;

const prob = (v: number | null): string => (v === null ? '—' : String(Number(v.toFixed(4))));
const interval = (iv: [number, number] | null, f: (v: number) => string): string => (iv ? `[${f(iv[0])}, ${f(iv[1])}]` : '—');
const signedPct = (v: number | null): string => (v === null ? '—' : `${v > 0 ? '+' : ''}${pct(v)}`);

function why(e: Evidence, key: string): string {
  return e.undefinedReasons[key] ?? 'not defined';
}

/**
 * One row per statistic: [statistic, value, reading], for any renderer (report.html can use it with its
 * own escaping). Strings that come from data are passed through `esc`; pass the identity for plain text.
 */
export function evidenceRows(e: Evidence, esc: Escape): string[][] {
  const r = e.returns;
  const out: string[][] = [];
  out.push([
    `Probabilistic Sharpe (vs ${fixed(e.psrBenchmarkSharpe)})`,
    prob(e.psr),
    e.psr === null ? esc(why(e, 'psr')) : `P(true Sharpe > ${fixed(e.psrBenchmarkSharpe)}), from skew ${fixed(r.skewness)} and kurtosis ${fixed(r.kurtosis)}`,
  ]);
  out.push([
    `Min. track record (${Number((e.minTrl?.confidence ?? 0.95) * 100)} %)`,
    e.minTrl ? `${e.minTrl.observations} bars` : '—',
    e.minTrl ? `≈ ${Math.round(e.minTrl.days)} days; ${e.minTrl.met ? 'met' : 'not met'} by the ${r.observations} bars here` : esc(why(e, 'minTrl')),
  ]);
  out.push([
    `Deflated Sharpe (N = ${e.dsr.trials})`,
    prob(e.dsr.value),
    e.dsr.value === null ? esc(why(e, 'dsr')) : `vs SR₀ = ${fixed(e.dsr.expectedMaxSharpe)}, the expected best of ${e.dsr.trials} no-skill trial${e.dsr.trials === 1 ? '' : 's'}`,
  ]);
  const b = e.bootstrap;
  const conf = `${Number((b.confidence * 100).toFixed(1))} %`;
  const how = `stationary bootstrap, seed ${b.seed}, ${b.samples} resamples, mean block ${b.blockLength} bars`;
  out.push([`Bootstrap ${conf} Sharpe`, interval(b.sharpe, (v) => fixed(v)), b.sharpe ? `point ${fixed(b.sharpePoint)}; ${how}` : esc(why(e, 'bootstrap.sharpe'))]);
  out.push([
    `Bootstrap ${conf} total return`,
    interval(b.totalReturn, (v) => pct(v)),
    b.totalReturn ? `point ${pct(b.totalReturnPoint)} (the folds back to back)` : esc(why(e, 'bootstrap.totalReturn')),
  ]);
  out.push(['Fold binomial p', prob(e.folds.binomialP), esc(e.folds.note)]);
  const cs = e.costStress;
  if (cs) {
    const s = cs.summary;
    out.push([
      `Cost stress ×${cs.multiplier}`,
      `${s.positiveFolds}/${s.folds} positive`,
      `fees ${Number(cs.feeBps.toFixed(2))} bps, slippage ${Number(cs.slippageBps.toFixed(2))} bps: mean fold return ${pct(s.returnMean)}, Sharpe ${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}` +
        (cs.decisionUnderStress ? ` → ${cs.decisionUnderStress} (${cs.holds ? 'the decision holds' : 'below the decision'})` : ''),
    ]);
  } else {
    out.push(['Cost stress', '—', esc(why(e, 'costStress'))]);
  }
  const la = e.lookahead;
  out.push([
    'Look-ahead audit',
    la ? `${la.mismatches} of ${la.checked} bars differ` : '—',
    la ? (la.mismatches > 0 ? esc(la.details[0] ?? '') : `observations rebuilt from bars truncated at the decision bar are identical (seed ${la.seed})`) : esc(why(e, 'lookahead')),
  ]);
  const c = e.champion;
  out.push([
    'Champion',
    c ? `${signedPct(c.meanDifference)} per fold` : '—',
    c ? esc(`vs ${c.path} (${c.tier}, ${c.source}): paired t p ${prob(c.tTest.p)}, sign test ${c.signTest.positive}+/${c.signTest.negative}− p ${prob(c.signTest.p)}`) : esc(why(e, 'champion')),
  ]);
  return out;
}

export function evidenceMarkdown(e: Evidence, esc: Escape, table: (rows: string[][], align: ('l' | 'r')[]) => string): string {
  const r = e.returns;
  const out: string[] = [
    `**Evidence** — the folds' ${r.observations} bar returns pooled: Sharpe ${fixed(r.sharpe)}, total return ${pct(r.totalReturn)}`,
    '',
    table([['Statistic', 'Value', 'Reading'], ...evidenceRows(e, esc)], ['l', 'r', 'l']),
  ];
  const c = e.champion;
  if (c) {
    out.push(
      '',
      table([['Fold', 'Challenger', 'Champion', 'Difference'], ...c.folds.map((f) => [String(f.index), pct(f.challenger), pct(f.champion), signedPct(f.difference)])], ['r', 'r', 'r', 'r']),
      '',
      esc(`Champion/challenger: ${c.note}.`),
    );
  }
  if (e.rules.length) out.push('', ...e.rules.map((x) => `- ${x.passed ? '✅' : '❌'} rule ${esc(x.rule)}: ${esc(x.detail)}`));
  return out.join('\n');
}

/** The terminal's EVIDENCE block: one line per statistic. */
export function evidenceText(e: Evidence): string {
  const r = e.returns;
  const b = e.bootstrap;
  const lines = [`EVIDENCE (the folds' ${r.observations} bar returns pooled: Sharpe ${fixed(r.sharpe)}, total return ${pct(r.totalReturn)}; docs/evidence.md)`];
  const trl = e.minTrl ? `${e.minTrl.observations} bars (≈ ${Math.round(e.minTrl.days)} days), ${e.minTrl.met ? 'met' : 'not met'}` : `— (${why(e, 'minTrl')})`;
  lines.push(
    `  PSR vs ${fixed(e.psrBenchmarkSharpe)}: ${prob(e.psr)}   DSR (N = ${e.dsr.trials}, SR₀ ${fixed(e.dsr.expectedMaxSharpe)}): ${prob(e.dsr.value)}   ` +
      `MinTRL ${Number((e.minTrl?.confidence ?? 0.95) * 100)} %: ${trl}`,
  );
  if (e.psr === null) lines.push(`  (PSR: ${why(e, 'psr')})`);
  lines.push(
    `  Bootstrap ${Number((b.confidence * 100).toFixed(1))} % (seed ${b.seed}, ${b.samples} resamples, mean block ${b.blockLength}): ` +
      `Sharpe ${b.sharpe ? interval(b.sharpe, (v) => fixed(v)) : `— (${why(e, 'bootstrap.sharpe')})`}, ` +
      `total return ${b.totalReturn ? interval(b.totalReturn, (v) => pct(v)) : `— (${why(e, 'bootstrap.totalReturn')})`}`,
  );
  lines.push(`  Folds: ${e.folds.note}`);
  const cs = e.costStress;
  lines.push(
    cs
      ? `  Cost stress ×${cs.multiplier}: ${cs.summary.positiveFolds}/${cs.summary.folds} positive, mean fold return ${pct(cs.summary.returnMean)}` +
          (cs.decisionUnderStress ? ` → ${cs.decisionUnderStress} (${cs.holds ? 'holds' : 'below the decision'})` : '')
      : `  Cost stress: — (${why(e, 'costStress')})`,
  );
  const la = e.lookahead;
  lines.push(la ? `  Look-ahead audit: ${la.mismatches} of ${la.checked} bars differ` : `  Look-ahead audit: — (${why(e, 'lookahead')})`);
  const c = e.champion;
  lines.push(
    c
      ? `  Champion ${c.path} (${c.tier}): mean fold return difference ${signedPct(c.meanDifference)}, paired t p ${prob(c.tTest.p)}, sign test ${c.signTest.positive}+/${c.signTest.negative}− p ${prob(c.signTest.p)}`
      : `  Champion: — (${why(e, 'champion')})`,
  );
  for (const x of e.rules) lines.push(`  rule ${x.rule}: ${x.passed ? 'passed' : 'FAILED'} — ${x.detail}`);
  return lines.join('\n');
}
