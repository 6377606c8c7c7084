/**
 * The `promote` and `revalidate` commands of the command line (docs/promotion.md). cli.ts parses the
 * flags and the config; these run the command, print what changed on stdout, and return the exit code.
 */
import { haltWhenStopping } from './app/interrupt.js';
import type { Config } from './config/schema.js';
import { planPromotion, type DeployChange, type PromotionPlan } from './core/promotion.js';
import { decisionsTable, modelNotes } from './core/render/text.js';
import { reportJson, writeReportFiles } from './app/output.js';
import { runPromote, runUrlFromEnv, writePlan, type PendingFile, type WriteResult } from './app/promote.js';
import { unifiedDiff } from './util/unified-diff.js';
import { runRevalidate } from './app/revalidate.js';
import { runTrack } from './app/track.js';
import { AlpacaTrading } from './adapters/alpaca/trading.js';
import { trackText } from './core/render/track.js';
import { sha256 } from './util/hash.js';
import { hasRunInputError } from './core/report.js';
import { inputError, usageError } from './core/errors.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultConfig } from './config/schema.js';
import type { AtomicFs } from './util/atomic.js';

export interface PromotionIo {
  stdout: (text: string) => void;
  log: (line: string) => void;
  now: () => Date;
  /** The repository root (the CLI's cwd). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Fault injection for the atomic writes (tests). */
  fs?: Partial<AtomicFs>;
}

export interface PromotionFlags {
  report?: string;
  paper?: string;
  live?: string;
  archive?: string;
  'models-dir'?: string;
  json?: boolean;
  'dry-run'?: boolean;
}

function changeLines(changes: readonly DeployChange[], paths: { paper: string; live: string }): string[] {
  const file = (c: DeployChange): string => (c.to === 'LIVE' ? paths.live : c.to === 'PAPER' ? paths.paper : c.from === 'LIVE' ? paths.live : paths.paper);
  return changes.map((c) => `  ${c.kind.padEnd(8)} ${file(c)}: ${c.summary}`);
}

/**
 * What a dry run would write, as a unified diff: the deployment configs line by line; a copied model
 * or card (new content-addressed files, never edited in place) as one line with its size and sha256.
 */
export function dryRunDiff(pending: readonly PendingFile[]): string {
  const parts: string[] = [];
  for (const f of pending) {
    if (f.config) {
      parts.push(unifiedDiff(f.path, f.current === null ? null : f.current.toString('utf8'), f.bytes.toString('utf8')).trimEnd());
    } else {
      const what = f.current === null ? 'new file' : 'replaced';
      parts.push(`${what}: ${f.path} (${f.bytes.length} bytes, sha256 ${sha256(f.bytes)})`);
    }
  }
  return parts.join('\n');
}

function planJson(plan: PromotionPlan, writes: WriteResult): string {
  return JSON.stringify({ changes: plan.changes, unchanged: plan.unchanged, skipped: plan.skipped, written: writes.written }, null, 2);
}

export async function promoteCommand(flags: PromotionFlags, config: Config, io: PromotionIo): Promise<number> {
  if (!flags.report) throw usageError('"promote" needs --report <report.json> (written by policy-gate validate --out)', '--report');
  const paths = { paper: flags.paper ?? config.promotion.paper, live: flags.live ?? config.promotion.live };
  const { plan, deploy, writes, pending } = await runPromote({
    root: io.cwd,
    reportPath: flags.report,
    paths,
    modelsDir: flags['models-dir'] ?? config.promotion.modelsDir,
    archive: flags.archive ?? null,
    now: io.now(),
    runUrl: runUrlFromEnv(io.env),
    ...(io.fs ? { fs: io.fs } : {}),
    ...(flags['dry-run'] ? { dryRun: true } : {}),
  });
  if (pending) {
    // --dry-run: everything was read and checked; nothing was written.
    const diff = dryRunDiff(pending);
    if (flags.json) {
      const doc = { dryRun: true, ...JSON.parse(planJson(plan, writes)), wouldWrite: pending.map((f) => f.path), diff };
      io.stdout(JSON.stringify(doc, null, 2) + '\n');
      return 0;
    }
    const out: string[] = [];
    if (plan.changes.length === 0 && pending.length === 0) {
      out.push(`dry run: nothing would change: ${deploy.paths.live} and ${deploy.paths.paper} already hold what ${flags.report} decided`);
    } else {
      out.push(`dry run: promoting from ${flags.report} would:`, ...changeLines(plan.changes, deploy.paths));
    }
    for (const u of plan.unchanged) out.push(`  held     ${u.id}: already deployed at ${u.tier} as decided`);
    for (const s of plan.skipped) out.push(`  skipped  ${s.id}: ${s.why}`);
    if (diff) out.push('', diff);
    out.push('', `dry run: nothing was written${pending.length ? ` (a real run writes ${pending.length} file${pending.length === 1 ? '' : 's'})` : ''}`);
    io.stdout(out.join('\n') + '\n');
    return 0;
  }
  if (flags.json) {
    io.stdout(planJson(plan, writes) + '\n');
    return 0;
  }
  const out: string[] = [];
  if (plan.changes.length === 0) {
    out.push(`nothing changed: ${deploy.paths.live} and ${deploy.paths.paper} already hold what ${flags.report} decided`);
  } else {
    out.push(`promoted from ${flags.report}:`, ...changeLines(plan.changes, deploy.paths));
  }
  for (const u of plan.unchanged) out.push(`  held     ${u.id}: already deployed at ${u.tier} as decided`);
  for (const s of plan.skipped) out.push(`  skipped  ${s.id}: ${s.why}`);
  if (writes.written.length) out.push(`wrote ${writes.written.join(', ')}`);
  io.stdout(out.join('\n') + '\n');
  return 0;
}

export interface RevalidateFlags extends PromotionFlags {
  out?: string;
  'equity-out'?: string;
  'trades-out'?: string;
  end?: number;
}

/**
 * The deployment configs re-validation reads. Only the default paths may be absent (nothing deployed
 * yet); a file named explicitly — by --paper / --live, or by promotion.paper / promotion.live in the
 * config file — must exist: a typo would otherwise read as "nothing is deployed" and pass.
 */
function checkNamedDeployFiles(flags: RevalidateFlags, config: Config, configFile: string | null, cwd: string): void {
  const defaults = defaultConfig().promotion;
  for (const tier of ['paper', 'live'] as const) {
    const named =
      flags[tier] !== undefined
        ? { path: flags[tier]!, by: `--${tier}` }
        : config.promotion[tier] !== defaults[tier]
          ? { path: config.promotion[tier], by: `promotion.${tier} in ${configFile ?? 'the config file'}` }
          : null;
    if (named && !existsSync(resolve(cwd, named.path))) {
      throw inputError(
        `${named.by} names the deployment config ${named.path}, which does not exist: check the path (only the default ${defaults[tier]} may be absent, meaning nothing is deployed at ${tier.toUpperCase()})`,
        named.path,
      );
    }
  }
}

export async function revalidateCommand(flags: RevalidateFlags, config: Config, configFile: string | null, io: PromotionIo): Promise<number> {
  checkNamedDeployFiles(flags, config, configFile, io.cwd);
  const paths = { paper: flags.paper ?? config.promotion.paper, live: flags.live ?? config.promotion.live };
  const now = io.now();
  const { report, deploy } = await runRevalidate(config, configFile, {
    root: io.cwd,
    paths,
    now,
    env: io.env,
    log: io.log,
    endMs: flags.end,
    equityOut: flags['equity-out'] ?? null,
    tradesOut: flags['trades-out'] ?? null,
  });
  // Interrupted: the models it could not evaluate must not be demoted; the signal handler writes the report.
  await haltWhenStopping();
  const text = reportJson(report) + '\n';
  const plan = planPromotion(deploy.configs, report, { mode: 'revalidate', now, runUrl: runUrlFromEnv(io.env), reportSha256: sha256(text) });
  if (flags.out) {
    const written = await writeReportFiles(report, flags.out);
    io.log(`wrote ${written.join(', ')}`);
  }
  const writes = await writePlan(io.cwd, deploy, plan, [], io.fs);
  if (flags.json) {
    io.stdout(JSON.stringify({ report: JSON.parse(text), ...JSON.parse(planJson(plan, writes)) }, null, 2) + '\n');
  } else {
    const out: string[] = [`Re-validation of ${deploy.paths.live} and ${deploy.paths.paper}`, ''];
    if (report.models.length > 0) out.push(decisionsTable(report));
    const notes = modelNotes(report.models);
    if (notes) out.push('', notes);
    out.push('');
    if (plan.changes.length > 0) out.push('demoted:', ...changeLines(plan.changes, deploy.paths));
    else if (report.models.length > 0) out.push('nothing changed');
    if (writes.written.length) out.push(`wrote ${writes.written.join(', ')}`);
    out.push('', `conclusion: ${report.conclusion}${report.conclusionReasons.length ? ` — ${report.conclusionReasons.join('; ')}` : ''}`);
    io.stdout(out.join('\n') + '\n');
  }
  if (report.infraErrors.length > 0) return 3;
  if (hasRunInputError(report)) return 2;
  return report.conclusion === 'success' ? 0 : 1;
}

export interface TrackFlags extends RevalidateFlags {
  account?: string;
}

/**
 * `policy-gate track` (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track): prints each deployed model's reconciliation and
 * verdict, writes the report with --out. Exit 0 when no record diverges, 1 when one does (a demotion is
 * due), 2 bad input, 3 the account or the data provider stayed unreachable. It writes no deployment
 * config: promotion and demotion go through a pull request.
 */
export async function trackCommand(flags: TrackFlags, config: Config, configFile: string | null, io: PromotionIo): Promise<number> {
  checkNamedDeployFiles(flags, config, configFile, io.cwd);
  const account = flags.account ?? 'paper';
  if (account !== 'paper' && account !== 'live') throw usageError(`--account must be paper or live, got ${JSON.stringify(account)}`, '--account');
  const paths = { paper: flags.paper ?? config.promotion.paper, live: flags.live ?? config.promotion.live };
  const now = io.now();
  const trading = new AlpacaTrading({ env: io.env, account, now: () => Date.now(), log: io.log, deadlineMs: config.data.deadlineSeconds * 1000 });
  const { report } = await runTrack(config, configFile, { root: io.cwd, paths, now, env: io.env, log: io.log, endMs: flags.end, equityOut: null, account, trading });
  await haltWhenStopping();
  if (flags.out) {
    const written = await writeReportFiles(report, flags.out);
    io.log(`wrote ${written.join(', ')}`);
  }
  if (flags.json) {
    io.stdout(reportJson(report) + '\n');
  } else {
    const out: string[] = [`Record of the ${account} account (${account === 'live' ? paths.live : paths.paper}) beside the backtest`, ''];
    if (report.models.length > 0) out.push(decisionsTable(report), '', trackText(report.models));
    else out.push('nothing is deployed on this account');
    out.push('', `conclusion: ${report.conclusion}${report.conclusionReasons.length ? ` — ${report.conclusionReasons.join('; ')}` : ''}`);
    io.stdout(out.join('\n') + '\n');
  }
  if (report.infraErrors.length > 0) return 3;
  if (hasRunInputError(report)) return 2;
  return report.conclusion === 'success' ? 0 : 1;
}
