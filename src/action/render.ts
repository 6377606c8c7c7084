/**
 * What the action publishes, as pure functions of the report: the check run's title and conclusion,
 * the markdown shared by the check run, the PR comment and the job summary (report.md with a short
 * preface saying what was validated and why), the trim note, and the `decisions` output.
 * Strings that come from an archive or a pull request are escaped with the report renderer's `md`.
 */
import { md, modelSectionsIn, renderMarkdown, type Detail } from '../core/render/markdown.js';
import { hasRunInputError, type Report } from '../core/report.js';
import type { Tier } from '../core/types.js';
import type { RunMode } from '../app/action-run.js';
import { tierRank } from '../core/types.js';
import type { CheckConclusion } from './checks.js';
import { STICKY_MARKER } from './comment.js';
import { CHECK_SUMMARY_LIMIT, COMMENT_LIMIT } from './trim.js';

/**
 * The bytes the shared markdown may take so that the PR comment (marker included) and the check run's
 * summary need no trimming: 65,508.
 */
export const MARKDOWN_BUDGET = Math.min(CHECK_SUMMARY_LIMIT, COMMENT_LIMIT - Buffer.byteLength(`${STICKY_MARKER}\n`));

export type { RunMode };

export interface RunFacts {
  mode: RunMode;
  headSha: string;
  pullRequest?: { number: number; changed: Map<string, string[]>; noChanges: string | null; relevantFiles: string[] };
  artifact?: { name: string; id: number; runId: number; digest: string | null; runUrl: string | null };
  deployConfigs?: { tier: string; path: string; present: boolean; models: string[] }[];
  /** Models a deployment config requests above their decision: why, and what would pass (docs/promotion.md). */
  advice?: { id: string; config: string; requested: string; decision: string; why: string; fix: string }[];
  /** The promotion or demotion pull request this run opened or updated. */
  deployPr?: { kind: 'promotion' | 'demotion' | 'tracking'; outcome: string; number: number | null; url: string | null; changes: string[]; error: string | null };
  /** The report artifact, for the link to report.html: its URL when this process uploaded it, else the run's page. */
  reportArtifact?: { name: string; url: string | null; runUrl: string | null };
  /** The workflow run that produced this text, named in the footer (not the time: see renderMarkdown's `stamp`). */
  run?: { id: number; attempt: number; url: string | null } | null;
  /** A shard job (`shard: i/n`): its summary shows its partial report only (docs/sharding.md). */
  shard?: { index: number; count: number; summary: string };
  /** The merge job (`mode: merge`): which shards' partial reports were merged, and which were missing. */
  merge?: { count: number | null; present: { index: number; label: string }[]; missing: { index: number; models: string[]; reason: 'absent' | 'failed' }[] };
}

export interface Decision {
  id: string;
  tier: Tier | null;
  requested: Tier;
}

export function decisions(report: Report): Decision[] {
  return report.models.map((m) => ({ id: m.id, tier: m.decision?.tier ?? null, requested: m.requested }));
}

/**
 * success: every requested model earned its tier. failure: a run error, an unreachable data provider,
 * or a model below its tier with fail-on-rejection. neutral: a model below its tier with
 * fail-on-rejection false (shown, not blocking: GitHub treats neutral as passing for required checks).
 */
export function checkConclusion(report: Report, failOnRejection: boolean): CheckConclusion {
  if (report.conclusion === 'success') return 'success';
  // Bad input of the run (a model's bars missing, a window outside the data) is an error, never "neutral".
  if (report.errors.length > 0 || report.infraErrors.length > 0 || hasRunInputError(report)) return 'failure';
  return failOnRejection ? 'failure' : 'neutral';
}

/**
 * The check run's title. A run error, then an infrastructure error (the ONNX Runtime missing, a data
 * provider unreachable), leads: it says why models were not evaluated, which the counts alone would not.
 * A model that was not evaluated is counted "not evaluated", never as a decision.
 */
export function checkTitle(report: Report): string {
  if (report.errors.length > 0) return `error: ${report.errors[0]}`;
  if (report.infraErrors.length > 0) {
    const n = report.models.length;
    const missing = report.models.filter((m) => !m.decision && m.gating?.classification !== 'DROP').length;
    const counted = n > 0 ? ` (${missing} of ${n} model${n === 1 ? '' : 's'} not evaluated)` : '';
    return `infrastructure error${counted}: ${report.infraErrors[0]}`;
  }
  if (report.models.length === 0) return report.conclusionReasons[0] ?? 'no models';
  const counts = new Map<string, number>();
  for (const m of report.models) {
    const k = m.decision?.tier ?? 'not evaluated';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const order = ['LIVE', 'PAPER', 'RETRAIN', 'DROP', 'not evaluated'];
  const parts = order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`);
  const short = report.models.filter((m) => (m.decision ? tierRank(m.decision.tier) < tierRank(m.requested) : m.requested !== 'DROP')).length;
  const n = report.models.length;
  return `${n} model${n === 1 ? '' : 's'}: ${parts.join(', ')}${short > 0 ? ` — ${short} below the requested tier` : ' — all earned their requested tier'}`;
}

/** An inline code span; backslash escapes do not work inside one, so a backtick becomes a quote. */
function code(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/\s+/g, ' ')}\``;
}

function preface(facts: RunFacts): string[] {
  const out: string[] = [];
  const sha = facts.headSha.slice(0, 7);
  if (facts.shard) {
    out.push(
      `**Partial report of shard ${facts.shard.index}/${facts.shard.count}** — ${md(facts.shard.summary)}. ` +
        'The check run, the comment and the verdict for all models come from the merge job (`mode: merge`).',
      '',
    );
  }
  if (facts.merge) {
    const m = facts.merge;
    const lost = m.missing.filter((x) => x.models.length > 0 || x.reason === 'failed');
    out.push(
      `Merged from ${m.present.length} of ${m.count ?? 0} shard partial report(s)${m.present.length ? ` (${m.present.map((p) => md(p.label)).join(', ')})` : ''}` +
        (lost.length
          ? `; ⚠️ missing: ${lost.map((x) => `shard ${x.index}/${m.count} (${x.reason === 'absent' ? 'no partial report' : 'failed'}${x.models.length ? `: ${x.models.map(md).join(', ')} not evaluated` : ''})`).join('; ')}.`
          : '.'),
      '',
    );
  }
  if (facts.mode === 'pull_request' && facts.pullRequest) {
    const pr = facts.pullRequest;
    if (pr.noChanges !== null) {
      out.push(`Pull request #${pr.number} at \`${sha}\`: ${md(pr.noChanges)}`);
    } else if (pr.changed.size === 0) {
      out.push(`Pull request #${pr.number} at \`${sha}\` changes ${pr.relevantFiles.length} gated file(s) but no model in the archive.`);
    } else {
      // A reason every model shares (the archive zip changed) is said once, not once per model.
      const lists = [...pr.changed.values()];
      const shared = lists.length > 1 ? lists[0]!.filter((why) => lists.every((l) => l.includes(why))) : [];
      out.push(`Pull request #${pr.number} at \`${sha}\` changes ${pr.changed.size} model(s)${shared.length ? ` — ${shared.map(md).join('; ')}` : ''}.`);
      const specific = [...pr.changed].map(([id, why]) => [id, why.filter((w) => !shared.includes(w))] as const).filter(([, why]) => why.length > 0);
      if (specific.length > 0) out.push('', ...specific.map(([id, why]) => `- **${md(id)}**: ${why.map(md).join('; ')}`));
    }
  } else if (facts.mode === 'workflow_run' && facts.artifact) {
    const a = facts.artifact;
    const run = a.runUrl ? `[${a.runId}](${a.runUrl})` : String(a.runId);
    out.push(`Training archive: artifact ${code(a.name)} (id ${a.id}${a.digest ? `, ${code(a.digest)}` : ''}) of workflow run ${run}, commit \`${sha}\`.`);
  } else {
    out.push(`Re-validation at \`${sha}\`.`);
  }
  const listed = (facts.deployConfigs ?? []).filter((c) => c.present);
  if (listed.length > 0) {
    out.push('', `Requested tiers from ${listed.map((c) => `${code(c.path)} (${c.models.length} ${c.tier})`).join(', ')}; other models at \`decision.required\`.`);
  }
  if (facts.advice?.length) {
    out.push('', '**What would pass:**', '');
    for (const a of facts.advice) {
      out.push(`- **${md(a.id)}**: ${code(a.config)} requests ${a.requested}, but its decision is ${a.decision} (${md(a.why)}) — ${md(a.fix)}.`);
    }
  }
  const pr = facts.deployPr;
  if (pr) {
    const what = pr.kind === 'promotion' ? 'Promotion pull request' : pr.kind === 'tracking' ? 'Tracking pull request' : 'Demotion pull request';
    if (pr.error !== null) out.push('', `⚠️ ${what} could not be opened: ${md(pr.error)}`);
    else if (pr.number !== null) out.push('', `${what} [#${pr.number}](${pr.url ?? ''}) ${pr.outcome}${pr.changes.length ? `: ${pr.changes.map(md).join('; ')}` : ''}.`);
    else out.push('', `${what}: ${md(pr.outcome)}.`);
  }
  return out;
}

/** The footer's name for a workflow run: "run 9001, attempt 2", linked to it. */
export function runStamp(run: NonNullable<RunFacts['run']>): string {
  const text = `run ${run.id}${run.attempt > 1 ? `, attempt ${run.attempt}` : ''}`;
  return run.url ? `[${text}](${run.url})` : text;
}

/** Where report.html is: in the report artifact (linked when its URL is known), else in the run's artifacts. */
export function htmlReportLink(a: NonNullable<RunFacts['reportArtifact']>): string {
  if (a.url) return `report.html in the [${code(a.name)} artifact](${a.url})`;
  return `report.html in the ${code(a.name)} artifact${a.runUrl ? ` of [this run](${a.runUrl})` : ''}`;
}

/**
 * report.md with the preface after its heading — every model's section in full when that fits
 * `budget` (GitHub's comment and check-run limits), else each section `compact` (no fold table, evidence
 * or notes: they stay in report.md and report.html), which fits about 50 models. Only a larger run is
 * trimmed, and its trim note says which sections were cut.
 */
export function actionMarkdown(report: Report, facts: RunFacts, budget: number = MARKDOWN_BUDGET): string {
  const render = (detail: Detail): string => {
    const body = renderMarkdown(report, { htmlLink: facts.reportArtifact ? htmlReportLink(facts.reportArtifact) : null, detail, ...(facts.run ? { stamp: runStamp(facts.run) } : {}) });
    const nl = body.indexOf('\n');
    const head = nl < 0 ? body : body.slice(0, nl);
    const rest = nl < 0 ? '' : body.slice(nl);
    return `${head}\n\n${preface(facts).join('\n')}${rest.startsWith('\n\n') ? rest : `\n${rest}`}`;
  };
  const full = render('full');
  return Buffer.byteLength(full) <= budget ? full : render('compact');
}

/** The markdown for a run that stopped before it had a report to show. */
export function crashMarkdown(message: string, logUrl: string | null): string {
  return ['## ❌ policy-gate: error', '', `The run stopped: ${md(message)}`, '', logUrl ? `See the [job log](${logUrl}) for details.` : 'See the job log for details.', ''].join('\n');
}

/**
 * The markdown for a run stopped by a signal (a cancelled or timed-out job): nothing was decided, and
 * the report as far as the run got says which models were evaluated.
 */
export function cancelledMarkdown(signal: string, report: Report, logUrl: string | null): string {
  const n = report.models.length;
  const evaluated = report.models.filter((m) => m.walkForward?.summary != null).length;
  return [
    '## ⏹️ policy-gate: cancelled',
    '',
    `The run was interrupted by ${md(signal)} (the job was cancelled or timed out) before it finished: nothing was decided, so nothing is promoted or demoted.` +
      (n > 0 ? ` ${evaluated} of ${n} models were evaluated; the report as far as the run got is in the report artifact.` : ''),
    '',
    logUrl ? `See the [job log](${logUrl}) for details.` : 'See the job log for details.',
    '',
  ].join('\n');
}

/**
 * The note that ends a trimmed body: which model sections were cut (from the text kept and the whole)
 * and where the full report is.
 */
export function trimNote(artifact: { name: string; url: string | null } | null, runUrl: string | null): (kept: string, whole: string) => string {
  const where = artifact?.url
    ? `the [${code(artifact.name)} artifact](${artifact.url})`
    : artifact
      ? `the ${code(artifact.name)} artifact${runUrl ? ` of [this run](${runUrl})` : ''}`
      : runUrl
        ? `[the job log](${runUrl})`
        : 'the report files';
  return (kept, whole) => {
    const all = modelSectionsIn(whole);
    // A section whose <details> is kept but not its </details> was cut too.
    const open = (kept.match(/^<details>/gm) ?? []).length - (kept.match(/^<\/details>$/gm) ?? []).length;
    const complete = Math.max(0, modelSectionsIn(kept).length - (open > 0 ? 1 : 0));
    let what = '';
    if (all.length > complete) {
      const cut = all.length - complete;
      what =
        modelSectionsIn(kept).length === 0
          ? ` Cut: every model's section${/\n\| *Model *\| *Decision/.test(kept) ? '' : ' and the summary table'} (${all.length} models).`
          : ` Cut: the sections of ${cut} of ${all.length} models, from ${code(all[complete]!.slice(0, 100))} on; their decisions are in the summary table above.`;
    }
    return `> ✂️ Trimmed to GitHub's size limit.${what} The full report (report.md, report.html, report.json) is in ${where}.`;
  };
}
