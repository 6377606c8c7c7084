/**
 * The GitHub runner's workflow-command parser, ported to TypeScript so tests can ask "would the runner
 * execute this line?". Source: actions/runner, src/Runner.Common/ActionCommand.cs (`TryParseV2`, the
 * `::name props::data` form, and `TryParse`, the legacy `##[name props]data` form) and
 * src/Runner.Worker/ActionCommandManager.cs (`TryProcessCommand` tries V2, then the legacy form, on
 * every line of a step's stdout and stderr). Only the decision "is this a command, which one, with what
 * data" is ported; the escaping of data and properties is reduced to what the tests look at.
 *
 * - V2: the line, after .NET's String.TrimStart() (every Char.IsWhiteSpace character), must start
 *   with `::`; a second `::` after it ends the command info; the name is the info up to its first space.
 * - Legacy: `##[` ANYWHERE in the line; the first `]` after it ends the command info; the name is the
 *   info up to its first space.
 * - Either way the name must be registered. The runner registers its command extensions and, after
 *   `::stop-commands::TOKEN`, any TOKEN a step chooses — so by default every name counts here.
 *
 * The runner reads its output a line at a time (.NET StreamReader: LF, CRLF or a lone CR end a line).
 */

/** .NET Char.IsWhiteSpace: U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
export const DOTNET_WHITESPACE = /^[\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/;

/** The commands a runner registers (its command extensions plus stop-commands). */
export const RUNNER_COMMANDS = [
  'stop-commands',
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'warning',
  'error',
  'notice',
  'debug',
  'group',
  'endgroup',
  'echo',
];

export interface RunnerCommand {
  form: 'v2' | 'legacy';
  name: string;
  data: string;
}

export type Registered = (name: string) => boolean;

/** Every non-empty name is registered (a step may have registered any token with stop-commands). */
export const ANY_NAME: Registered = (name) => name.length > 0;

/** The runner's own registrations only (case-insensitive, like its HashSet). */
export const KNOWN_NAMES: Registered = (name) => RUNNER_COMMANDS.includes(name.toLowerCase());

function commandName(info: string): string {
  const space = info.indexOf(' ');
  return space < 0 ? info : info.slice(0, space);
}

/** TryParseV2 on one line. */
export function tryParseV2(line: string, registered: Registered = ANY_NAME): RunnerCommand | null {
  if (line === '') return null;
  const message = line.replace(DOTNET_WHITESPACE, '');
  if (!message.startsWith('::')) return null;
  const end = message.indexOf('::', 2);
  if (end < 0) return null;
  const name = commandName(message.slice(2, end));
  if (!registered(name)) return null;
  return { form: 'v2', name, data: message.slice(end + 2) };
}

/** TryParse (the legacy `##[` form) on one line. */
export function tryParseLegacy(line: string, registered: Registered = ANY_NAME): RunnerCommand | null {
  if (line === '') return null;
  const prefix = line.indexOf('##[');
  if (prefix < 0) return null;
  const rb = line.indexOf(']', prefix);
  if (rb < 0) return null;
  const name = commandName(line.slice(prefix + 3, rb));
  if (!registered(name)) return null;
  return { form: 'legacy', name, data: line.slice(rb + 1) };
}

/** What TryProcessCommand would take from one line: V2 first, then the legacy form. */
export function parseRunnerLine(line: string, registered: Registered = ANY_NAME): RunnerCommand | null {
  return tryParseV2(line, registered) ?? tryParseLegacy(line, registered);
}

/** A step's output split the way the runner reads it. */
export function runnerLines(output: string): string[] {
  return output.split(/\r\n|\r|\n/);
}

/** Every command the runner would find in a step's output. */
export function runnerCommands(output: string, registered: Registered = ANY_NAME): RunnerCommand[] {
  return runnerLines(output)
    .map((l) => parseRunnerLine(l, registered))
    .filter((c): c is RunnerCommand => c !== null);
}
