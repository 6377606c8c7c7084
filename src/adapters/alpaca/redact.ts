/** The redactor lives in src/util/redact.ts (it serves every output, not only Alpaca's); re-exported here. */
export { Redactor, secretForms, REDACTED } from '../../util/redact.js';
