import type { Finding } from './types';

/** Crisis and emergency lines: published numbers people in crisis must be able to see. */
export const CRISIS_LINE_DIGITS = new Set([
  '988',
  '911',
  '112',
  '999',
  '18002738255',
  '8002738255',
  '741741',
  '116123',
  '08457909090',
  '131114',
  '6863',
]);

function normalise(category: string, value: string): string {
  if (['PHONE', 'CREDIT_CARD', 'US_SSN', 'IBAN'].includes(category)) return value.replace(/[^0-9A-Za-z]/g, '').toUpperCase();
  return value.trim().replace(/\s+/g, ' ').toLowerCase();
}

export interface Replacement {
  category: string;
  start: number;
  end: number;
  placeholder: string;
}

/**
 * Replaces PII with typed placeholders that stay consistent across one conversation: the same
 * email becomes the same `[EMAIL_1]` in every turn. Findings that overlap protected spans (crisis
 * language) are left alone, and so are crisis-line numbers. Make one Redactor per conversation.
 */
export class Redactor {
  private readonly placeholders = new Map<string, string>();
  private readonly counters = new Map<string, number>();

  placeholderFor(category: string, value: string): string {
    const key = `${category}\u0000${normalise(category, value)}`;
    let placeholder = this.placeholders.get(key);
    if (!placeholder) {
      const n = (this.counters.get(category) ?? 0) + 1;
      this.counters.set(category, n);
      placeholder = `[${category}_${n}]`;
      this.placeholders.set(key, placeholder);
    }
    return placeholder;
  }

  redact(
    text: string,
    findings: readonly Finding[],
    protectedSpans: readonly { start: number; end: number }[] = [],
  ): { text: string; replacements: Replacement[] } {
    const chosen = [...findings]
      .filter((f) => !protectedSpans.some((p) => f.start < p.end && p.start < f.end))
      .filter((f) => !(f.category === 'PHONE' && CRISIS_LINE_DIGITS.has(text.slice(f.start, f.end).replace(/\D/g, ''))))
      .sort((a, b) => a.start - b.start);
    let out = '';
    let at = 0;
    const replacements: Replacement[] = [];
    for (const f of chosen) {
      if (f.start < at) continue; // overlaps are resolved by the engine; be safe anyway
      const placeholder = this.placeholderFor(f.category, text.slice(f.start, f.end));
      out += text.slice(at, f.start) + placeholder;
      replacements.push({ category: f.category, start: f.start, end: f.end, placeholder });
      at = f.end;
    }
    return { text: out + text.slice(at), replacements };
  }
}
