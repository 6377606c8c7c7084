/**
 * Reading the config file from disk: `.github/policy-gate.yml` by default (absent = defaults),
 * or the file named by --config (absent = error). YAML, or JSON for a `.json` file.
 */
import { existsSync, lstatSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { inputError, PolicyGateError } from '../core/errors.js';
import { checkValueDepth, parseFailureReason, prepareJson } from '../core/json.js';
import { parseConfig, defaultConfig, type Config } from './schema.js';
import { enclosingRoot, readUntrustedText } from '../util/safe-read.js';

export const DEFAULT_CONFIG_PATH = '.github/policy-gate.yml';

export interface LoadedConfig {
  config: Config;
  /** The file read, or null when the defaults were used. */
  file: string | null;
}

export async function loadConfig(path: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  const explicit = path !== undefined;
  const file = path ?? DEFAULT_CONFIG_PATH;
  const resolved = file.startsWith('/') ? file : `${cwd}/${file}`;
  if (!existsSync(resolved) && !isLink(resolved)) {
    if (explicit) {
      throw inputError(`config file ${file} does not exist; pass an existing file to --config or leave the flag out to use the defaults`, file);
    }
    return { config: defaultConfig(), file: null };
  }
  // A regular file, reached without a symbolic link below the working folder (src/util/safe-read.ts).
  const text = await readUntrustedText(resolved, { root: enclosingRoot(resolved, cwd), what: 'config file' });
  return { config: parseConfigText(text, file), file };
}

/** A dangling symbolic link still exists as far as the user is concerned: it is refused, not ignored. */
function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function parseConfigText(text: string, file: string): Config {
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(prepareJson(text, file)) : parseYaml(text, { uniqueKeys: true, prettyErrors: true });
  } catch (err) {
    if (err instanceof PolicyGateError) throw err;
    throw inputError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${parseFailureReason(err)}`, file, err);
  }
  checkValueDepth(doc, file);
  return parseConfig(doc, file);
}
