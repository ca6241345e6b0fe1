import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { Detector, Finding } from '../types';

/** Regions tried for national-format numbers when phone words are near (as Presidio's set). */
export const PHONE_REGIONS: CountryCode[] = ['GB', 'DE', 'FR', 'IL', 'IN', 'BR', 'AU', 'NL'];

/** Something shaped like a phone number: 7-17 digits with the usual separators, maybe an extension. */
const CANDIDATE = /(?<![\w+.\-/])(?:\+|00)?\(?\d(?:[ ().-]{0,3}\d){6,16}(?: ?(?:x|ext\.?) ?\d{1,5})?(?![\w/])/g;
/** Layouts people use for phone numbers; a number in one of them is likely a phone even if no plan validates it. */
const PHONE_LAYOUTS = [
  /^(?:\+?1[ .-]|001[ .-])?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?: ?(?:x|ext\.?) ?\d{1,5})?$/, // North American
  /^\+\d{1,3}[ .-]\(?\d{1,4}\)?(?:[ .-]\d{2,5}){1,4}(?: ?(?:x|ext\.?) ?\d{1,5})?$/, // international
  /^\(\d{2,5}\) ?\d{2,5}(?:[ -]\d{2,5}){0,2}$/, // (area) local
  /^0\d{1,4}[ -]\d{2,8}(?:[ -]\d{2,4}){0,3}$/, // national trunk prefix 0
  /^\d{2,4}([ .-])\d{2,3}(?:\1\d{2,3}){2,3}$/, // evenly separated short groups (cards use groups of four)
];
/** Digit strings that are dates, times or versions, not phones. */
const NOT_PHONE = /^(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3})/;
const CONTEXT = /\b(?:phone|phones|call|calls|text me|mobile|cell|tel|telephone|whatsapp|reach me|my number|contact|fax)\b/i;

/**
 * Phone numbers, validated by libphonenumber-js (Google's metadata). Numbers valid in
 * international format or in the North American plan score 0.75; numbers valid only in another
 * region's national plan (whose rules accept many ordinary digit strings) are reported only
 * with phone words nearby. Phone words add 0.15. Short crisis lines (988, 911, 116 123) are
 * never candidates: they have too few digits.
 */
export class PhoneDetector implements Detector {
  readonly name = 'PhoneDetector';
  readonly categories = ['PHONE'] as const;

  constructor(private readonly regions: readonly CountryCode[] = PHONE_REGIONS) {}

  detect(text: string): Finding[] {
    const findings: Finding[] = [];
    CANDIDATE.lastIndex = 0;
    for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
      const candidate = m[0];
      const start = m.index;
      const end = start + candidate.length;
      const around = text.slice(Math.max(0, start - 40), start) + ' ' + text.slice(end, end + 40);
      const context = CONTEXT.test(around);
      if (NOT_PHONE.test(candidate)) continue;
      let region: string | undefined;
      const international = candidate.startsWith('+') || candidate.startsWith('00');
      const first = parsePhoneNumberFromString(international ? candidate.replace(/^00/, '+') : candidate, 'US');
      if (first?.isValid() && (international || first.country === 'US' || first.country === 'CA')) {
        region = first.country ?? 'international';
      } else if (context) {
        region = this.regions.find((r) => parsePhoneNumberFromString(candidate, r)?.isValid());
      }
      const layout = PHONE_LAYOUTS.some((l) => l.test(candidate));
      if (!region && layout) {
        // Shaped like a phone number though no numbering plan validates it (made-up or new ranges).
        findings.push({
          category: 'PHONE',
          start,
          end,
          score: context ? 0.8 : 0.55,
          detector: this.name,
          explanation: `phone layout, not validated${context ? ', phone context +0.25' : ''}`,
        });
        continue;
      }
      if (!region) continue;
      findings.push({
        category: 'PHONE',
        start,
        end,
        score: context ? 0.9 : 0.75,
        detector: this.name,
        explanation: `libphonenumber valid for ${region}${context ? ', phone context +0.15' : ''}`,
      });
    }
    return findings;
  }
}
