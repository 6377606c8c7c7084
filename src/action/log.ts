/**
 * Logging for text we do not control (model ids, archive entry names, paths, PR titles, error
 * messages quoting them). The runner reads a stdout line whose start — after any Unicode white space —
 * is `::`, and `##[` anywhere in a line, as a workflow command, so an archive entry named
 * `::add-mask::…` or `\u00a0::stop-commands::…` would otherwise be executed (CVE-2020-15228,
 * threats.md G8). `neutralize` breaks both with a zero-width space (src/util/terminal.ts), shows
 * control, bidirectional and zero-width characters as visible escapes (src/util/visible.ts), and
 * redacts every registered secret (src/util/redact.ts): the text stays readable and is never a command.
 */
import * as core from '@actions/core';
import { redactOutput } from '../util/redact.js';
import { neutralizeCommands } from '../util/terminal.js';
import { visibleText } from '../util/visible.js';

/** Every line of `text` made harmless for the runner's command parser (lines joined with LF). */
export function neutralize(text: string): string {
  return neutralizeCommands(visibleText(redactOutput(text)))
    .split(/\r\n|\r|\n/)
    .join('\n');
}

/** core.info for untrusted text. */
export function info(text: string): void {
  core.info(neutralize(text));
}

/** A log callback for the pipeline (its lines carry model ids and archive paths). */
export function pipelineLog(line: string): void {
  info(`policy-gate: ${line}`);
}
