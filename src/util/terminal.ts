/**
 * Text policy-gate prints carries strings from archives and pull requests (model ids, card fields,
 * entry names, error messages quoting them). Two things must not get through (threats.md G8,
 * docs/threat-model.md):
 *
 * - Workflow commands: a GitHub runner reads every line of a step's stdout AND stderr that starts with
 *   `::` (or the legacy `##[`) as a command, so a model id such as `::add-mask::…`, `::error::…` or
 *   `::stop-commands::…` at the start of a table row would be executed when the CLI runs in a
 *   workflow. `neutralizeCommands` breaks such line starts with a zero-width space after the first
 *   character (src/action/log.ts does the same for the Action's log): readable, never a command.
 * - Terminal control: ESC sequences (titles, OSC 52 clipboard writes, cursor movement), a lone CR that
 *   overwrites the line, and other C0/C1 controls. `printable` shows them as visible escapes.
 */

const ZWSP = '\u200b';

/** Every line start (after LF, CRLF or a lone CR) that a runner would read as a command, broken. */
export function neutralizeCommands(text: string): string {
  return text.replace(/(^|\r\n|\r|\n)([ \t]*)(::|##\[)/g, (_m, eol: string, space: string, cmd: string) => `${eol}${space}${cmd[0]}${ZWSP}${cmd.slice(1)}`);
}

/** Control characters other than tab and newline, shown as \xNN / \uNNNN. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** One log line: printable, with any line break inside it shown too (a log line is one line). */
export function logLine(text: string): string {
  return printable(text.replace(/\r\n|\n/g, '\\n'));
}
