/**
 * The job summary: the same markdown as the check run and the comment, within GitHub's 1 MiB per step.
 * (core.summary caches the file path on first write; the action writes once per process.)
 */
import * as core from '@actions/core';
import { JOB_SUMMARY_LIMIT, trimToBytes, type TrimNote } from './trim.js';
import { redactOutput } from '../util/redact.js';

export type SummaryOutcome = 'written' | 'unavailable';

/** The text written: trimmed so that it and the newline core.summary adds fit in 1 MiB. */
export function jobSummaryText(markdown: string, trimNote: TrimNote): string {
  return trimToBytes(redactOutput(markdown), JOB_SUMMARY_LIMIT - 1, trimNote).text;
}

export async function writeJobSummary(markdown: string, trimNote: TrimNote, env: NodeJS.ProcessEnv): Promise<SummaryOutcome> {
  if (!env['GITHUB_STEP_SUMMARY']) return 'unavailable';
  await core.summary.emptyBuffer().addRaw(jobSummaryText(markdown, trimNote), true).write({ overwrite: true });
  return 'written';
}
