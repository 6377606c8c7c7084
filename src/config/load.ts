/**
 * Reading the config file from disk: `.github/policy-gate.yml` by default (absent = defaults),
 * or the file named by --config (absent = error). YAML, or JSON for a `.json` file.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { inputError, PolicyGateError } from '../core/errors.js';
import { checkValueDepth, parseFailureReason, prepareJson } from '../core/json.js';
import { parseConfig, defaultConfig, type Config } from './schema.js';

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
  if (!existsSync(resolved)) {
    if (explicit) {
      throw inputError(`config file ${file} does not exist; pass an existing file to --config or leave the flag out to use the defaults`, file);
    }
    return { config: defaultConfig(), file: null };
  }
  const text = await readFile(resolved, 'utf8');
  return { config: parseConfigText(text, file), file };
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
