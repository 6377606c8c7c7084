/**
 * Errors that carry their exit code (SPEC section 9):
 *   2 — bad input or usage: the message names the file, key, flag or entry, and says what to do;
 *   3 — infrastructure: a data provider or API stayed unreachable after retries.
 * Exit 1 is never an error: it is the normal "a model fell short" conclusion.
 */
export type ErrorKind = 'input' | 'usage' | 'infra';

export class PolicyGateError extends Error {
  readonly kind: ErrorKind;
  /** The file, entry, key or flag the error is about, when there is one. */
  readonly subject: string | undefined;

  constructor(kind: ErrorKind, message: string, options: { subject?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PolicyGateError';
    this.kind = kind;
    this.subject = options.subject;
  }

  get exitCode(): 2 | 3 {
    return this.kind === 'infra' ? 3 : 2;
  }
}

/** Bad input: an archive, config, card, CSV or model that cannot be accepted. Exit 2. */
export function inputError(message: string, subject?: string, cause?: unknown): PolicyGateError {
  return new PolicyGateError('input', message, { subject, cause });
}

/**
 * Bad input of the run itself, found while evaluating one model: its bars (none for its symbol, a bars
 * file that cannot be read), the window the flags ask for (an end before the data, more days than the
 * data holds), or a card passed with --card that belongs to another model. The model is "not
 * evaluated" with this message; the other models of the run are still evaluated, and the run exits 2.
 * (What belongs to the model itself — its ONNX file, its card in the archive, a crash — is the model's
 * own problem: not evaluated too, but the run concludes failure and exits 1.)
 */
export class RunInputError extends PolicyGateError {
  constructor(message: string, subject?: string, cause?: unknown) {
    super('input', message, { subject, cause });
    this.name = 'RunInputError';
  }
}

/** Bad command-line usage. Exit 2. */
export function usageError(message: string, subject?: string): PolicyGateError {
  return new PolicyGateError('usage', message, { subject });
}

/** A provider or API that stayed down. Exit 3. */
export function infraError(message: string, subject?: string, cause?: unknown): PolicyGateError {
  return new PolicyGateError('infra', message, { subject, cause });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
