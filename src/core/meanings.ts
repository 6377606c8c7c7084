/**
 * The action meanings a card may name (SPEC section 3 "Action meanings"). Their effect on the target
 * exposure is decoded in ./actions.ts; this module only names them, so the card parser (./card.ts) can
 * read them without importing the decoder, which reads cards.
 */
export const ACTION_MEANINGS = ['HOLD', 'BUY', 'SELL', 'CLOSE', 'BUY_25', 'BUY_50', 'BUY_75', 'BUY_100', 'SELL_25', 'SELL_50', 'SELL_75', 'SELL_100'] as const;
export type ActionMeaning = (typeof ACTION_MEANINGS)[number];

/**
 * The meaning a card's string names, or null when the tool does not understand it.
 * Case-insensitive; a trailing `%` on a sized action is accepted (`BUY_25%` is `BUY_25`), because
 * the training code's notes spell them that way. Nothing else is guessed.
 */
export function parseActionMeaning(value: string): ActionMeaning | null {
  const token = value.trim().toUpperCase();
  const normalised = /^(BUY|SELL)_\d+%$/.test(token) ? token.slice(0, -1) : token;
  return (ACTION_MEANINGS as readonly string[]).includes(normalised) ? (normalised as ActionMeaning) : null;
}
