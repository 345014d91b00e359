/**
 * Text every store and wire format of Signet can carry. PostgreSQL refuses a NUL in text (and \u0000 in
 * jsonb), and jsonb refuses an unpaired UTF-16 surrogate (JSON.stringify writes it as \udXXX); UTF-8
 * cannot encode one at all. Such a value is refused where it enters: request validation on the
 * gateway (libs/service) and the values read out of a CSR (csr.ts).
 */

/** An unpaired high surrogate, or a low surrogate without its high half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What makes `text` unfit to store, in words for an error message; null when it is fine. */
export function textFault(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode text)';
  return null;
}
