/**
 * `policy-gate gate`: open the archive and gate every model on its training metrics. No backtest.
 */
import type { Config } from '../config/schema.js';
import type { Report } from '../core/report.js';
import { openTrainingArchive } from './archive.js';
import { emptyReport } from './report-base.js';

export async function runGate(source: string, config: Config, configFile: string | null, opts: { now: Date; log: (line: string) => void }): Promise<Report> {
  const report = emptyReport('gate', config, configFile, opts.now);
  const opened = await openTrainingArchive(source, config.gating, config.decision.required, opts.log);
  try {
    report.archive = opened.archive;
    report.models = opened.models.map((m) => m.report);
  } finally {
    await opened.reader.close();
  }
  // Gating alone can only rule a model out: a DROP (or a model that cannot be evaluated) falls short
  // of any requested tier; the others need the backtest (`validate`) to earn theirs.
  const reasons: string[] = [];
  for (const m of report.models) {
    if (m.gating?.classification === 'DROP') reasons.push(`${m.id}: gating DROP (${m.gating.flags.join(', ') || 'below REVIEW'})`);
    else if (m.errors.length) reasons.push(`${m.id}: ${m.errors[0]}`);
  }
  report.conclusion = reasons.length ? 'failure' : 'success';
  report.conclusionReasons = reasons;
  return report;
}
