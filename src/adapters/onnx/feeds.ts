/**
 * Checking a model's feeds and naming what went wrong in an inference call: shared by the parent's
 * PolicyModel.run (./session.ts) and the simulation loop inside the onnxruntime process
 * (./host-main.ts), so a model fails with the same message whichever side fed it.
 */
import type { FloatTensor, TensorInfo } from '../../core/drive.js';
import { errorMessage, inputError } from '../../core/errors.js';
import type { RunFeed } from './host-frame.js';

const FLOAT_INPUTS = new Set(['float32', 'float64']);

export function cleanReason(err: unknown): string {
  return errorMessage(err).replace(/\s+/g, ' ').trim();
}

/** The feeds and wanted outputs of one call as the wire carries them (indices); throws an input error naming the model. */
export function prepareRun(
  label: string,
  inputs: readonly TensorInfo[],
  outputs: readonly TensorInfo[],
  feeds: Record<string, FloatTensor>,
  outputNames: readonly string[] | undefined,
): { wire: RunFeed[]; wanted: number[] } {
  const wire: RunFeed[] = [];
  for (let index = 0; index < inputs.length; index++) {
    const input = inputs[index]!;
    const feed = feeds[input.name];
    if (!feed) {
      throw inputError(`${label}: no value for model input '${input.name}' (model inputs: ${inputs.map((i) => i.name).join(', ')})`, label);
    }
    if (!FLOAT_INPUTS.has(input.type)) {
      throw inputError(`${label}: input '${input.name}' has element type ${input.type}; policy-gate feeds float32 observations`, label);
    }
    const size = feed.dims.reduce((a, b) => a * b, 1);
    if (size !== feed.data.length) {
      throw new Error(`${label}: feed '${input.name}' has ${feed.data.length} values for dims [${feed.dims.join(', ')}]`);
    }
    // float64 inputs are converted in the host (Float64Array.from of the same float32 values).
    wire.push({ input: index, float64: input.type === 'float64', data: feed.data, dims: feed.dims });
  }
  for (const name of Object.keys(feeds)) {
    if (!inputs.some((i) => i.name === name)) {
      throw inputError(`${label}: the model has no input '${name}' (model inputs: ${inputs.map((i) => i.name).join(', ')})`, label);
    }
  }
  const names = outputNames ?? outputs.map((o) => o.name);
  const wanted: number[] = [];
  for (const name of names) {
    const at = outputs.findIndex((o) => o.name === name);
    if (at < 0) {
      throw inputError(`${label}: the model has no output '${name}' (model outputs: ${outputs.map((o) => o.name).join(', ')})`, label);
    }
    wanted.push(at);
  }
  return { wire, wanted };
}

/** onnxruntime's refusal of one call (a reply with ok: false), as the error the model fails with. */
export function runFailure(label: string, inputs: readonly TensorInfo[], wire: readonly RunFeed[], reply: { kind?: string; message?: string; [key: string]: unknown }): Error {
  if (reply.kind === 'run') {
    const shapes = wire.map((f) => `${inputs[f.input]!.name} [${f.dims.join(', ')}]`).join(', ');
    return inputError(`${label}: inference failed for inputs ${shapes}: ${cleanReason(reply.message)} (model inputs: ${inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')})`, label);
  }
  if (reply.kind === 'missing-output') return inputError(`${label}: onnxruntime returned no output '${String(reply['name'])}'`, label);
  if (reply.kind === 'output-type') {
    return inputError(`${label}: output '${String(reply['name'])}' has element type ${String(reply['type'])}, which policy-gate cannot read as numbers`, label);
  }
  return new Error(`${label}: the onnxruntime host refused the request: ${reply.message ?? reply.kind}`);
}
