/**
 * From a model output to a target exposure (SPEC section 3 "Action meanings", section 5 "Target state").
 *
 * The policy's actions move a target exposure T (a signed fraction of equity, start 0):
 *   HOLD      T unchanged
 *   BUY       T = +max_exposure
 *   SELL      T = −max_exposure, or 0 when long-only
 *   CLOSE     T = 0
 *   BUY_p     T += p % of max_exposure, capped at +max_exposure
 *   SELL_p    T −= p % of max_exposure, floored at −max_exposure, or at 0 when long-only
 * A continuous policy sets T = clip(output, −1, 1) × max_exposure (floored at 0 when long-only).
 *
 * This module is the one decoder of the project: the backtest, walk-forward and any parity check use
 * it, so a meaning cannot be read two ways (a mismatch that once inverted BUY signals in the training
 * code's own backtests).
 */
import { inputError } from './errors.js';
import type { PolicyCard } from './card.js';

export { ACTION_MEANINGS, parseActionMeaning, type ActionMeaning } from './meanings.js';
import type { ActionMeaning } from './meanings.js';

export interface ExposureLimits {
  /** Largest absolute target exposure, in (0, 1]. */
  readonly maxExposure: number;
  readonly longOnly: boolean;
}

export interface DecodedAction {
  /** The argmax of the output (ties → lowest index), also when min_confidence turned it into HOLD. */
  readonly index: number;
  /** The meaning acted on: meanings[index], or HOLD when the confidence is below min_confidence. */
  readonly meaning: ActionMeaning;
  /**
   * The probability of the chosen action: softmax of logits (output_kind "logits"), the value itself
   * ("probs"), its exp ("log_probs", or a log-probability output read beside an action index); null
   * when the model gives none (an action index alone).
   */
  readonly confidence: number | null;
  /** True when min_confidence turned the argmax into HOLD. */
  readonly belowMinConfidence: boolean;
}

/** The model id errors name: `<SYMBOL>_<TIMEFRAME>`. */
function modelName(card: PolicyCard, model: string | undefined): string {
  return model ?? card.id;
}

/** Values per decision of a discrete policy's action output: 1 for an action index, else one per meaning. */
export function discreteWidth(card: PolicyCard): number {
  const action = card.action;
  if (action.type !== 'discrete') return 1;
  return action.outputKind === 'action_index' ? 1 : action.meanings.length;
}

/**
 * Checks that a discrete policy's output width (the output's last dimension) equals meanings.length.
 * Throws an input error naming the model and the card otherwise. The caller runs it once per model,
 * with the ONNX output's declared or observed last dimension.
 */
export function checkOutputWidth(width: number, card: PolicyCard, model?: string): void {
  const action = card.action;
  if (action.type !== 'discrete') {
    if (width < 1) throw inputError(`model ${modelName(card, model)}: the continuous policy's output is empty`, card.file);
    return;
  }
  if (action.outputKind === 'action_index') {
    if (width !== 1) {
      throw inputError(
        `model ${modelName(card, model)}: the output has ${width} values per decision, but ${card.file} reads it as an action index (output_kind "action_index": one value per decision); ` +
          (width === action.meanings.length
            ? 'it looks like scores per action: set action.output_kind to "logits", "probs" or "log_probs"'
            : 'name the output that holds the action index in action.output'),
        card.file,
      );
    }
    return;
  }
  if (width !== action.meanings.length) {
    const hint =
      width === 1
        ? `; one value per decision is an action index (stable-baselines3's export): set action.output_kind to "action_index", or export the logits (action_net of the policy's latent)`
        : `; give one meaning per output value, in the model's order`;
    throw inputError(
      `model ${modelName(card, model)}: the output has ${width} values per decision but ${card.file} ` + `action.meanings lists ${action.meanings.length} (${action.meanings.join(', ')})${hint}`,
      card.file,
    );
  }
}

/**
 * Decodes one decision from `output[offset .. offset + width)`: argmax (deterministic; ties → the
 * lowest index), its confidence, and min_confidence. `output` may hold a batch of decisions back to
 * back ([B, A] flattened); its length must be a multiple of the width. With output_kind
 * "action_index" the width is 1 and the value is the index; `logProb`, when given, is the
 * log-probability of the chosen action (read from another output), and its exp is the confidence.
 */
export function decodeDiscrete(output: ArrayLike<number>, offset: number, card: PolicyCard, model?: string, logProb?: number): DecodedAction {
  const action = card.action;
  if (action.type !== 'discrete') {
    throw new Error(`decodeDiscrete called for ${card.file}, whose action.type is ${action.type}`);
  }
  if (action.outputKind === 'action_index') return decodeIndex(output, offset, card, model, logProb);
  const width = action.meanings.length;
  if (output.length % width !== 0 || offset % width !== 0 || offset < 0 || offset + width > output.length) {
    if (output.length % width !== 0) checkOutputWidth(output.length, card, model);
    throw new RangeError(`model ${modelName(card, model)}: no decision at offset ${offset} in an output of ${output.length} values ` + `(${width} per decision)`);
  }

  let best = offset;
  for (let i = offset; i < offset + width; i++) {
    const value = output[i];
    if (!Number.isFinite(value)) {
      throw inputError(`model ${modelName(card, model)}: output value ${i - offset} is ${value}; the model produced a non-finite ` + `output (check the observation and the export)`, card.file);
    }
    if (value > output[best]) best = i; // strict: ties keep the lowest index
  }

  let confidence: number;
  if (logProb !== undefined) {
    confidence = Math.exp(logProb);
  } else if (action.outputKind === 'probs') {
    confidence = output[best];
  } else if (action.outputKind === 'log_probs') {
    confidence = Math.exp(output[best]);
  } else {
    // Numerically stable softmax of the top logit: 1 / Σ exp(z_i − z_max).
    const top = output[best];
    let sum = 0;
    for (let i = offset; i < offset + width; i++) sum += Math.exp(output[i] - top);
    confidence = 1 / sum;
  }

  const index = best - offset;
  const belowMinConfidence = action.minConfidence > 0 && confidence < action.minConfidence;
  return {
    index,
    meaning: belowMinConfidence ? 'HOLD' : action.meanings[index],
    confidence,
    belowMinConfidence,
  };
}

function decodeIndex(output: ArrayLike<number>, offset: number, card: PolicyCard, model: string | undefined, logProb: number | undefined): DecodedAction {
  const action = card.action as Extract<PolicyCard['action'], { type: 'discrete' }>;
  if (offset < 0 || offset >= output.length) {
    throw new RangeError(`model ${modelName(card, model)}: no decision at offset ${offset} in an output of ${output.length} values (1 per decision)`);
  }
  const value = output[offset];
  if (!Number.isInteger(value) || value < 0 || value >= action.meanings.length) {
    throw inputError(
      `model ${modelName(card, model)}: the action index output is ${value}, but ${card.file} action.meanings lists ${action.meanings.length} actions ` +
        `(indices 0 to ${action.meanings.length - 1}); check action.output and action.output_kind`,
      card.file,
    );
  }
  let confidence: number | null = null;
  if (logProb !== undefined) {
    if (!Number.isFinite(logProb)) {
      throw inputError(`model ${modelName(card, model)}: the log-probability output is ${logProb}; the model produced a non-finite output`, card.file);
    }
    confidence = Math.exp(logProb);
  }
  if (action.minConfidence > 0 && confidence === null) {
    throw inputError(
      `model ${modelName(card, model)}: ${card.file} sets action.min_confidence but the action output is an index with no confidence; name the log-probability output in action.log_prob_output`,
      card.file,
    );
  }
  const belowMinConfidence = confidence !== null && action.minConfidence > 0 && confidence < action.minConfidence;
  return { index: value, meaning: belowMinConfidence ? 'HOLD' : action.meanings[value]!, confidence, belowMinConfidence };
}

const SIZED = /^(BUY|SELL)_(25|50|75|100)$/;

/**
 * The target exposure after one action. Sized moves are steps of p % of max_exposure; the result is
 * snapped to the 1 %-of-max_exposure grid when it is within 1e-9 of it, so four BUY_25 reach exactly
 * max_exposure and four SELL_25 back reach exactly 0 (flat, not a dust position).
 */
export function nextTarget(current: number, meaning: ActionMeaning, limits: ExposureLimits): number {
  const { maxExposure: max, longOnly } = limits;
  if (!Number.isFinite(current)) throw new RangeError(`current target exposure must be finite, got ${current}`);
  const floor = longOnly ? 0 : -max;
  switch (meaning) {
    case 'HOLD':
      return clamp(current, floor, max);
    case 'BUY':
      return max;
    case 'SELL':
      return floor;
    case 'CLOSE':
      return 0;
  }
  const match = SIZED.exec(meaning);
  /* c8 ignore next */
  if (match === null) throw new Error(`unhandled action meaning ${meaning}`);
  const step = Number(match[2]) / 100;
  let units = current / max + (match[1] === 'BUY' ? step : -step);
  const snapped = Math.round(units * 100) / 100;
  if (Math.abs(units - snapped) < 1e-9) units = snapped;
  return clamp(units * max, floor, max) + 0; // + 0 turns −0 into 0
}

/**
 * The target of a continuous policy: clip(value, −1, 1) × max_exposure, floored at 0 when long-only
 * (a negative output then means "flat": Alpaca cannot short crypto, and a long-only card says the
 * policy must not be shorted).
 */
export function continuousTarget(value: number, card: Pick<PolicyCard, 'execution' | 'file' | 'id'>): number {
  if (!Number.isFinite(value)) {
    throw inputError(`model ${card.id}: the continuous output is ${value}; the model produced a non-finite output`, card.file);
  }
  const { maxExposure, longOnly } = card.execution;
  const target = clamp(value, -1, 1) * maxExposure;
  return (longOnly ? Math.max(target, 0) : target) + 0;
}

/**
 * Whether an order is sent (SPEC 5): discrete policies when the target changed; continuous policies
 * when |target − current exposure| > execution.rebalance_band.
 */
export function orderNeeded(card: Pick<PolicyCard, 'action' | 'execution'>, previousTarget: number, target: number, currentExposure: number): boolean {
  if (card.action.type === 'discrete') return target !== previousTarget;
  return Math.abs(target - currentExposure) > card.execution.rebalanceBand;
}

/** One step of the state machine: decode the output at `offset` and move the target. */
export function decideTarget(output: ArrayLike<number>, offset: number, card: PolicyCard, currentTarget: number, model?: string, logProb?: number): { target: number; action: DecodedAction | null } {
  if (card.action.type === 'continuous') {
    if (offset < 0 || offset >= output.length) {
      throw new RangeError(`model ${modelName(card, model)}: no output value at offset ${offset}`);
    }
    return { target: continuousTarget(output[offset], card), action: null };
  }
  const action = decodeDiscrete(output, offset, card, model, logProb);
  return { target: nextTarget(currentTarget, action.meaning, card.execution), action };
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
