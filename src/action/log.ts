/**
 * Logging for text we do not control (model ids, archive entry names, paths, PR titles, error
 * messages quoting them). The runner reads every stdout line that starts with `::` (and the legacy
 * `##[`) as a workflow command, so an archive entry named `::add-mask::…` or `::stop-commands::…`
 * would otherwise be executed (CVE-2020-15228, threats.md G8). `neutralize` breaks those line starts
 * with a zero-width space after the first character; the text stays readable and is never a command.
 */
import * as core from '@actions/core';

const ZWSP = '\u200b';

/** Every line of `text` made harmless for the runner's command parser. */
export function neutralize(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => line.replace(/^(\s*)(::|##\[)/, (_m, space: string, cmd: string) => `${space}${cmd[0]}${ZWSP}${cmd.slice(1)}`))
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
