/**
 * Text policy-gate prints carries strings from archives and pull requests (model ids, card fields,
 * entry names, error messages quoting them). Two things must not get through (threats.md G8,
 * docs/threat-model.md):
 *
 * - Workflow commands. A GitHub runner reads every line of a step's stdout AND stderr (lines end at
 *   LF, CRLF or a lone CR) through two parsers (actions/runner, src/Runner.Common/ActionCommand.cs):
 *   `TryParseV2` takes a line whose start, after String.TrimStart() — which drops every Unicode white
 *   space: NBSP, U+1680, U+2000–U+200A, U+2028/2029, U+202F, U+205F, U+3000, U+0085, tabs — is `::`,
 *   and the legacy `TryParse` takes `##[` ANYWHERE in a line. `neutralizeCommands` puts a zero-width
 *   space between the two colons of such a line start (the white-space class used here is a superset
 *   of .NET's, U+FEFF included) and inside every `##[`: the text stays readable and is never a command.
 *   src/action/log.ts does the same for the Action's log; test/helpers/runner-commands.ts ports the
 *   runner's parser to prove it.
 * - Terminal control: ESC sequences (titles, OSC 52 clipboard writes, cursor movement), a lone CR that
 *   overwrites the line, other C0/C1 controls, and bidirectional or zero-width characters that make
 *   one id look like another. `printable` shows them as visible escapes.
 */
import { escapeChar, INVISIBLE } from './visible.js';

const ZWSP = '\u200b';

/** Every character String.TrimStart() drops in .NET (Char.IsWhiteSpace), plus U+FEFF and the zero-width space. */
export const RUNNER_SPACE = '\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const LINE_START_COMMAND = new RegExp(`^([${RUNNER_SPACE}]*)::`);

/** Every line start a runner would read as a `::command::`, and every `##[`, broken with a zero-width space. */
export function neutralizeCommands(text: string): string {
  const parts = text.replace(/##\[/g, `##${ZWSP}[`).split(/(\r\n|\r|\n)/);
  // Even indexes are lines, odd ones the line endings between them.
  for (let i = 0; i < parts.length; i += 2) parts[i] = parts[i]!.replace(LINE_START_COMMAND, (_m, space: string) => `${space}:${ZWSP}:`);
  return parts.join('');
}

/** What `printable` escapes: a CR and everything `visibleText` escapes (src/util/visible.ts). */
const UNPRINTABLE = new RegExp(`[\\r${INVISIBLE.source.slice(1, -1)}]`, 'g');

/** Control characters other than tab and newline, and the invisible ones of src/util/visible.ts, shown as \xNN / \uNNNN. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/** One log line: printable, with any line break inside it shown too (a log line is one line). */
export function logLine(text: string): string {
  return printable(text.replace(/\r\n|\n/g, '\\n'));
}
