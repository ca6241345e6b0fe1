import isEmail from 'validator/lib/isEmail';
import isFQDN from 'validator/lib/isFQDN';
import isIBAN from 'validator/lib/isIBAN';
import isIP from 'validator/lib/isIP';
import isURL from 'validator/lib/isURL';

/** Luhn checksum over the digits of `value` (separators ignored). */
export function luhnValid(value: string): boolean {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * US SSN structure rules: area not 000, 666 or 900-999; group not 00; serial not 0000; and not
 * the well-known advertising numbers. (Randomised issuance since 2011 left no finer rules.)
 */
export function ssnValid(value: string): boolean {
  const m = /^(\d{3})[- ]?(\d{2})[- ]?(\d{4})$/.exec(value.trim());
  if (!m) return false;
  const [area, group, serial] = [m[1] as string, m[2] as string, m[3] as string];
  if (area === '000' || area === '666' || area.startsWith('9')) return false;
  if (group === '00' || serial === '0000') return false;
  if (`${area}${group}${serial}` === '078051120' || `${area}${group}${serial}` === '219099999') return false;
  // The same digit nine times is a placeholder, not a number.
  return !/^(\d)\1{8}$/.test(`${area}${group}${serial}`);
}

/** Validators a detector's config may name. Each says whether a match is real. */
export const VALIDATORS = {
  luhn: luhnValid,
  iban: (v: string) => isIBAN(v.replace(/\s/g, '').toUpperCase()),
  ssn: ssnValid,
  email: (v: string) => isEmail(v, { allow_utf8_local_part: true, require_tld: true }),
  ip: (v: string) => isIP(v, 4) || isIP(v, 6),
  url: (v: string) => isURL(v, { require_protocol: false, require_tld: true }),
  domain: (v: string) => isFQDN(v.replace(/\.$/, ''), { require_tld: true }),
} as const satisfies Record<string, (value: string) => boolean>;

export type ValidatorName = keyof typeof VALIDATORS;
export const VALIDATOR_NAMES = Object.keys(VALIDATORS) as [ValidatorName, ...ValidatorName[]];
