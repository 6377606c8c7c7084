/**
 * Helpers for tests that call evaluateModel directly: a blank model report, and a model that is run
 * call by call from the test's process (no in-host simulation), counting its inference calls.
 */
import type { PolicyModel } from '../../src/adapters/onnx/session.js';
import type { ModelReport } from '../../src/core/report.js';
import type { GatingResult, Timeframe } from '../../src/core/types.js';

export function approvedGating(points = 5): GatingResult {
  return { classification: 'APPROVED', flags: [], final: { fitness: 0.8, profitFactor: 2, consistency: 0.9, maxDrawdown: 0.05 }, checkpointIndex: null, reasons: [], points };
}

/** A BTCUSD model's report before evaluation, gated APPROVED, requesting PAPER. */
export function modelReport(id: string, timeframe: Timeframe): ModelReport {
  return {
    id,
    symbol: 'BTCUSD',
    timeframe,
    assetClass: null,
    assetClassGuessed: false,
    candidate: 'final',
    model: null,
    card: null,
    gating: approvedGating(),
    flags: [],
    train: { start: null, end: null },
    backtest: null,
    walkForward: null,
    requested: 'PAPER',
    decision: null,
    dataQuality: [],
    errors: [],
    notes: [],
    evidence: null,
  };
}

/** `model` without simulate(): evaluateModel then drives the loop here, one counted run() per call. */
export function callByCall(model: PolicyModel): { model: PolicyModel; calls: () => number } {
  let n = 0;
  return {
    calls: () => n,
    model: {
      label: model.label,
      sha256: model.sha256,
      inputs: model.inputs,
      outputs: model.outputs,
      metadata: model.metadata,
      irVersion: model.irVersion,
      opsets: model.opsets,
      producer: model.producer,
      device: model.device,
      executionProvider: model.executionProvider,
      ...(model.fallbackReason === undefined ? {} : { fallbackReason: model.fallbackReason }),
      run: (feeds, names) => {
        n++;
        return model.run(feeds, names);
      },
      release: () => model.release(),
    },
  };
}
