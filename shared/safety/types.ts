/** PII categories Pixel finds; the names the safety scan writes. */
export const PII_CATEGORIES = [
  'EMAIL',
  'PHONE',
  'US_SSN',
  'CREDIT_CARD',
  'IBAN',
  'IP_ADDRESS',
  'URL',
  'DOMAIN',
  'DATE_OF_BIRTH',
  'DATE',
  'ADDRESS',
  'PERSON',
  'AGE',
] as const;
export type PiiCategory = (typeof PII_CATEGORIES)[number];

/** One thing a detector found: where, what, how sure, and why. Offsets are UTF-16 indices. */
export interface Finding {
  category: string;
  start: number;
  end: number;
  /** Confidence in [0, 1]. */
  score: number;
  detector: string;
  /** How the score came about (pattern, context, validator), for audits. Never the matched text. */
  explanation: string;
}

/** Finds entities of some categories in a text. Implementations must run in linear time. */
export interface Detector {
  readonly name: string;
  readonly categories: readonly string[];
  detect(text: string): Finding[];
}
