/**
 * policy-gate as a library: the commands as functions, the parsers, the schemas and the report's
 * types. The CLI (src/cli.ts) and the Action (src/action) are shells over these.
 *
 *   import { defaultConfig, runValidate } from 'policy-gate';
 *   const report = await runValidate('archive.zip', { ...defaultConfig(), data: { ...defaultConfig().data, dir: 'bars' } }, null,
 *     { now: new Date(), log: () => {}, endMs: undefined, equityOut: null });
 *
 * onnxruntime-node is loaded by a child process on the first model load (src/adapters/onnx/host.ts);
 * call shutdownOrtHost() when done, or the process keeps it alive.
 */
export { runValidate, type RunOptions as ValidateOptions } from './app/validate.js';
export { runBacktest, type BacktestOptions } from './app/backtest.js';
export { runGate } from './app/gate.js';
export { runRevalidate, type RevalidateOptions } from './app/revalidate.js';
export { checkArchive, checkModelFile, type CheckReport } from './app/check.js';
export { shutdownOrtHost } from './adapters/onnx/host.js';
export { defaultConfig, parseConfig, configSchema } from './config/schema.js';
export { loadConfig } from './config/load.js';
export type { Config, DecisionConfig, EvidenceConfig, BacktestConfig, WalkForwardConfig, DataConfig, TrackRules } from './core/config.js';
export { parseCard, type PolicyCard } from './core/card.js';
export { cardSchema } from './core/card-schema.js';
export { publishedSchemas } from './app/schemas.js';
export { decide, conclude } from './core/decide.js';
export { PolicyGateError } from './core/errors.js';
export type { Report, ModelReport, WindowReport, FoldReport, TradeRecord, ActionHistogram } from './core/report.js';
export type { Decision, Tier, GatingResult, BarSeries } from './core/types.js';
