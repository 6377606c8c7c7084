/** The parts of report.json every command fills in the same way. */
import type { Config } from '../config/schema.js';
import type { Report } from '../core/report.js';
import { SCHEMA_VERSION } from '../core/report.js';
import { sha256, stableStringify } from '../util/hash.js';
import { toolVersion } from '../util/version.js';

export function configSection(config: Config, file: string | null): Report['config'] {
  return { sha256: sha256(stableStringify(config)), file, ...config } as Report['config'];
}

export function emptyReport(command: string, config: Config, configFile: string | null, now: Date): Report {
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'policy-gate', version: toolVersion() },
    command,
    generatedAt: now.toISOString(),
    conclusion: 'failure',
    conclusionReasons: [],
    config: configSection(config, configFile),
    archive: null,
    data: null,
    runtime: null,
    models: [],
    errors: [],
    infraErrors: [],
  };
}

/**
 * The report of a run that stopped on an error before it had one: nothing evaluated, the error its
 * only reason (and an infrastructure error too, when it was one).
 */
export function runErrorReport(command: string, config: Config, configFile: string | null, now: Date, error: string, infraError: string | null = null): Report {
  const report = emptyReport(command, config, configFile, now);
  report.errors.push(error);
  if (infraError !== null) report.infraErrors.push(infraError);
  report.conclusionReasons = [`run error: ${error}`];
  return report;
}
