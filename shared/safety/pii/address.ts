import * as path from 'node:path';
import { z } from 'zod';
import { escapeRegex } from '../../util/regex';
import { loadYamlFile } from '../../util/yaml-file';
import type { Detector, Finding } from '../types';

const Words = z.array(z.string().min(1)).min(1);
export const AddressLexiconSchema = z.object({
  streetTypes: Words,
  streetPrefixes: Words,
  compoundEndings: Words,
  unitDesignators: Words,
  cues: Words,
  postalCues: Words,
  placeParticles: Words,
});
export type AddressLexicon = z.infer<typeof AddressLexiconSchema>;

export const DEFAULT_ADDRESS_LEXICON = path.join(__dirname, 'address-lexicon.yaml');

const alternation = (words: readonly string[]) =>
  [...new Set(words)]
    .sort((a, b) => b.length - a.length)
    .map(escapeRegex)
    .join('|');

/** A word of a street or place name in any case; a capitalised one; a postal code. */
const WORD = String.raw`[\p{L}][\p{L}.'’-]{0,30}`;
const CAP = String.raw`\p{Lu}[\p{L}.'’-]{0,30}`;
const HOUSE = String.raw`(?<house>(?:\d{1,6}[A-Za-z]?[ \t]){0,2})`;
const POSTAL = String.raw`(?:\d{4,6}(?:-\d{3,4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)(?![\p{L}\p{N}])`;
const START = String.raw`(?<![\p{L}\p{N}'’-])`;
/** Between the lines of an address: a comma, or a line break (with a quote mark or bullet, or a leading comma). */
const LINE_BREAK = String.raw`[ \t]*(?:\r?\n[ \t]*){1,2}(?:[>|*•?-]{1,3}[ \t]*)?(?:,[ \t]*)?`;
const COMMA = String.raw`[ \t]*,[ \t]*`;

/**
 * Whether a street line is written in lower case, which makes it weaker evidence ("2 hours in
 * one way" is no street). A street type written after the name counts ("Maple Street" vs "way")
 * unless a number follows it ("Kirke gate 14"); after a prefix ("rue", "ul.") the name counts.
 */
function lowerCaseLine(kind: Kind, m: RegExpExecArray): boolean {
  const g = m.groups ?? {};
  const lower = (s: string | undefined) => s !== undefined && /\p{L}/u.test(s) && !/\p{Lu}/u.test(s);
  const startsLower = (s: string | undefined) => s !== undefined && /^[^\p{L}]*\p{Ll}/u.test(s);
  if (kind === 'street-suffix') return startsLower(g.type) && (g.num === undefined || startsLower(g.name));
  if (kind === 'street-prefix') return lower(g.name);
  return startsLower(m[0].replace(/^[\d\sA-Za-z]{0,2}\d+[A-Za-z]?[ \t]/, ''));
}

type Kind =
  'street-suffix' | 'street-name' | 'street-prefix' | 'street-compound' | 'street-generic' | 'intersection' | 'po-box' | 'military' | 'postal-code';

interface Candidate {
  kind: Kind;
  start: number;
  end: number;
  house: boolean;
  lowerCase: boolean;
}

/**
 * Street addresses, found the way people write them rather than by one pattern: a street line
 * (house number and street name with a street type after it, "Via"/"Rue"/"ul." before it, a
 * compound like "Hauptstraße", or a plain "Name 12" when a unit or an address cue confirms it),
 * then what follows on the same or the next lines: unit (Apt./Suite), town, region, country,
 * postal code. Also P.O. boxes, military addresses, street corners and postal codes introduced
 * as such. Each step is a bounded regular expression anchored where the last one ended, so the
 * whole scan is linear. Vocabulary in address-lexicon.yaml.
 */
export class AddressDetector implements Detector {
  readonly name = 'AddressDetector';
  readonly categories = ['ADDRESS'] as const;
  private readonly streetLines: { kind: Kind; regex: RegExp }[];
  private readonly others: { kind: Kind; regex: RegExp }[];
  private readonly postalCue: RegExp;
  private readonly unit: RegExp;
  private readonly unitBefore: RegExp;
  private readonly placeAfterComma: RegExp;
  private readonly placeAfterCommaLower: RegExp;
  private readonly placeAfterSpace: RegExp;
  private readonly placeLine: RegExp;
  private readonly postal: RegExp;
  private readonly cue: RegExp;
  private readonly hasHint: RegExp;

  constructor(lexiconFile = DEFAULT_ADDRESS_LEXICON) {
    const lexicon = loadYamlFile(lexiconFile, AddressLexiconSchema, 'address lexicon').value;
    const types = alternation(lexicon.streetTypes);
    const prefixes = alternation([...lexicon.streetPrefixes, ...lexicon.streetPrefixes.map((p) => p.toLowerCase())]);
    const endings = alternation(lexicon.compoundEndings);
    const units = alternation(lexicon.unitDesignators);
    const particles = alternation(lexicon.placeParticles);
    const nameWord = String.raw`(?:${CAP}|(?:${particles})(?=[ \t]\p{L})|\d{1,4}(?:st|nd|rd|th))`;
    const place = (word: string) => String.raw`${word}(?:[ \t](?:(?:${particles})[ \t]){0,2}${word}){0,4}`;
    // A place may end with its postal code, or a region code and postal code ("Leeds LS1 4AB", "Austin, TX 78701").
    const withPostal = String.raw`(?:,?[ \t]{1,3}(?:[A-Z]{2}[ \t]{1,3})?(?<postal>${POSTAL}))?`;
    this.streetLines = [
      {
        kind: 'street-suffix',
        regex: new RegExp(
          String.raw`${START}(?<house>(?:\d{1,6}[A-Za-z]?[ \t]){1,2})(?<name>(?:(?:${WORD}|\d{1,4}(?:st|nd|rd|th))[ \t]){1,4}?)(?<type>${types})(?![\p{L}\p{N}])\.?(?:[ \t](?<num>\d{1,6}[A-Za-z]?)(?![\p{L}\p{N}]))?`,
          'giu',
        ),
      },
      {
        // "Gosposka ulica 47", "Dózsa György út 78.": the street type, then the number.
        kind: 'street-suffix',
        regex: new RegExp(
          String.raw`${START}${HOUSE}(?<name>(?:${WORD}[ \t]){1,3}?)(?<type>${types})[ \t](?<num>\d{1,6}[A-Za-z]?)(?![\p{L}\p{N}])\.?`,
          'giu',
        ),
      },
      {
        // "Via Roma 12", "12 Rue de la Paix 3": the number after the name.
        kind: 'street-prefix',
        regex: new RegExp(String.raw`${START}${HOUSE}(?:${prefixes})[ \t](?<name>(?:${WORD}[ \t]){0,5}?)\d{1,6}[A-Za-z]?(?![\p{L}\p{N}])\.?`, 'gu'),
      },
      {
        // "59 Rue de la Nouvelle Delhi": house number first, capitalised name.
        kind: 'street-prefix',
        regex: new RegExp(
          String.raw`${START}(?<house>(?:\d{1,6}[A-Za-z]?[ \t]){1,2})(?:${prefixes})[ \t](?<name>${nameWord}(?:[ \t]${nameWord}){0,4})(?![\p{L}\p{N}])`,
          'gu',
        ),
      },
      {
        kind: 'street-compound',
        regex: new RegExp(String.raw`${START}${HOUSE}(?:${CAP}[ \t]){0,2}[\p{L}]{3,30}(?:${endings})[ \t]\d{1,5}[A-Za-z]?(?![\p{L}\p{N}])\.?`, 'giu'),
      },
      {
        // "Vesturgata 66": needs a unit, a postal code or an address cue to count.
        kind: 'street-generic',
        regex: new RegExp(String.raw`${START}${HOUSE}${CAP}(?:[ \t]${nameWord}){0,3}[ \t]\d{1,5}[A-Za-z]?(?![\p{L}\p{N}])\.?`, 'gu'),
      },
    ];
    this.others = [
      {
        // "on Adams Street": a street named without a number, after a preposition.
        kind: 'street-name',
        regex: new RegExp(
          String.raw`(?<=\b(?:on|at|off|along|near)[ \t])${CAP}(?:[ \t]${nameWord}){0,2}[ \t](?:Street|Avenue|Road|Lane|Boulevard|Drive|Place|Square|Terrace|Crescent)(?![\p{L}\p{N}])`,
          'gu',
        ),
      },
      {
        kind: 'intersection',
        regex: new RegExp(
          String.raw`\b(?:the[ \t])?corner[ \t]of[ \t](?:[\p{L}\d.'’-]{1,30}[ \t]){1,5}?(?:and|&)[ \t](?:[\p{L}\d.'’-]{1,30}[ \t]){0,3}?(?:(?:${types})\b\.?|\d{1,5}\b)`,
          'giu',
        ),
      },
      {
        kind: 'po-box',
        regex: new RegExp(
          String.raw`${START}(?:\d{1,6}[ \t])?(?:P\.?[ \t]?O\.?[ \t]?Box|Post[ \t]?Office[ \t]Box|Post[ \t]?box|Postboks|Postfach|Apartado|Caixa[ \t]Postal|Casilla)[ \t]\d{1,6}\b`,
          'giu',
        ),
      },
      {
        kind: 'military',
        regex: new RegExp(
          String.raw`\b(?:(?:USS|USNS|USNV|USCGC)[ \t][\p{L}'’-]{2,30}(?:[ \t][\p{L}'’-]{2,30})?|(?:PSC|Unit|CMR)[ \t]\d{1,5},?[ \t]Box[ \t]\d{1,5}),?\s{1,3}(?:FPO|APO|DPO)[ \t](?:AA|AE|AP)[ \t]\d{5}\b`,
          'giu',
        ),
      },
    ];
    this.postalCue = new RegExp(String.raw`\b(?:${alternation(lexicon.postalCues)})(?:[ \t]is|:)?[ \t]{1,3}(?<code>${POSTAL})`, 'giu');
    this.unit = new RegExp(String.raw`(?:${COMMA}|${LINE_BREAK}|[ \t]+)(?:${units})\.?[ \t]?#?[\p{L}\p{N}-]{1,8}(?![\p{L}\p{N}])`, 'iyu');
    this.unitBefore = new RegExp(String.raw`(?:${units})\.?[ \t]?#?\d{1,6}[ \t]$`, 'iu');
    this.placeAfterComma = new RegExp(String.raw`${COMMA}${place(CAP)}${withPostal}(?![\p{L}\p{N}])`, 'yu');
    this.placeAfterCommaLower = new RegExp(String.raw`${COMMA}${place(WORD)}${withPostal}(?![\p{L}\p{N}])`, 'yu');
    this.placeAfterSpace = new RegExp(String.raw`[ \t]+${place(CAP)}${withPostal}(?![\p{L}\p{N}])`, 'yu');
    // A line of its own: only place words (any case) and maybe a postal code, then the line ends.
    this.placeLine = new RegExp(String.raw`${LINE_BREAK}${place(WORD)}${withPostal}(?=[ \t]*(?:,[ \t]*)?(?:\r?\n|$))`, 'yu');
    // A postal code, maybe followed by its town ("10115 Berlin").
    this.postal = new RegExp(String.raw`(?:${COMMA}|${LINE_BREAK}|[ \t]+)(?<postal>${POSTAL})(?:[ \t]+${place(CAP)}(?![\p{L}\p{N}]))?`, 'yu');
    this.cue = new RegExp(String.raw`\b(?:${alternation(lexicon.cues)})(?:[ \t]*:|[ \t]+(?:is|are|to|at|with|as))?\s*$`, 'iu');
    this.hasHint = /\d|corner[ \t]of|\b(?:Street|Avenue|Road|Lane|Boulevard|Drive|Place|Square|Terrace|Crescent)\b/i;
  }

  detect(text: string): Finding[] {
    if (!this.hasHint.test(text)) return [];
    const candidates: Finding[] = [];
    for (const { kind, regex } of this.streetLines) {
      regex.lastIndex = 0;
      for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
        const house = (m.groups?.house ?? '').length > 0;
        const finding = this.extend(text, { kind, start: m.index, end: m.index + m[0].length, house, lowerCase: lowerCaseLine(kind, m) });
        if (finding) candidates.push(finding);
        // Let shorter street lines inside a long match be tried too ("12 Oak 5 Main Street").
        if (m[0].length > 0) regex.lastIndex = m.index + Math.max(1, m[0].search(/[ \t]/) + 1 || m[0].length);
      }
    }
    for (const { kind, regex } of this.others) {
      regex.lastIndex = 0;
      for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
        const finding = this.extend(text, { kind, start: m.index, end: m.index + m[0].length, house: true, lowerCase: false });
        if (finding) candidates.push(finding);
      }
    }
    this.postalCue.lastIndex = 0;
    for (let m = this.postalCue.exec(text); m !== null; m = this.postalCue.exec(text)) {
      const code = m.groups?.code ?? '';
      const start = m.index + m[0].length - code.length;
      candidates.push({
        category: 'ADDRESS',
        start,
        end: start + code.length,
        score: 0.75,
        detector: this.name,
        explanation: 'postal code after a postal-code cue',
      });
    }
    // Keep the strongest of overlapping candidates (the engine would too; this keeps its audit short).
    candidates.sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start));
    const kept: Finding[] = [];
    for (const c of candidates) if (!kept.some((k) => c.start < k.end && k.start < c.end)) kept.push(c);
    return kept.sort((a, b) => a.start - b.start);
  }

  /** Extends a street line over unit, place lines and postal code, and scores the result. */
  private extend(text: string, c: Candidate): Finding | null {
    let { start, end } = c;
    let unit = false;
    let postal = false;
    let places = 0;
    const before = text.slice(Math.max(0, start - 20), start);
    const unitFirst = this.unitBefore.exec(before);
    if (unitFirst && c.kind !== 'postal-code') {
      start -= unitFirst[0].length;
      unit = true;
    }
    const tryAt = (regex: RegExp): number => {
      regex.lastIndex = end;
      const m = regex.exec(text);
      if (!m) return -1;
      if (m.groups?.postal !== undefined) postal = true;
      return m.index + m[0].length;
    };
    for (let step = 0; step < 7; step++) {
      let next = -1;
      if (!unit && (next = tryAt(this.unit)) > 0) {
        unit = true;
      } else if (places < 4 && (next = tryAt(this.placeLine)) > 0) {
        places += 1;
      } else if (places < 4 && (next = tryAt(c.lowerCase ? this.placeAfterCommaLower : this.placeAfterComma)) > 0) {
        places += 1;
      } else if (places < 4 && unit && places === 0 && (next = tryAt(this.placeAfterSpace)) > 0) {
        places += 1;
      } else if (!postal && (next = tryAt(this.postal)) > 0) {
        postal = true;
      }
      if (next < 0) break;
      end = next;
    }
    const cueBefore = this.cue.test(text.slice(Math.max(0, c.start - 40), c.start));
    const evidence: [boolean, string][] = [
      [c.house, 'house number'],
      [unit, 'unit'],
      [postal, 'postal code'],
      [places > 0, `${places} place line(s)`],
      [cueBefore, 'address cue'],
    ];
    const why: string[] = [c.kind];
    // A plain "Name 12" is an address only with a unit, a postal code or a cue to say so.
    if (c.kind === 'street-generic' && !unit && !postal && !cueBefore) return null;
    const base: Record<Kind, number> = {
      'street-suffix': 0.75,
      'street-name': 0.5,
      'street-prefix': 0.7,
      'street-compound': 0.55,
      'street-generic': 0.3,
      intersection: 0.8,
      'po-box': 0.8,
      military: 0.85,
      'postal-code': 0.75,
    };
    let score = base[c.kind];
    if (c.lowerCase) {
      score -= 0.4;
      why.push('lower case -0.4');
    }
    for (const [present, name] of evidence) {
      if (!present || (name === 'house number' && !c.kind.startsWith('street-'))) continue;
      // Each piece of structure says more about a plain "Name 12" than about a named street type.
      const step = c.kind === 'street-generic' ? 0.15 : 0.1;
      score += step;
      why.push(`${name} +${step}`);
    }
    score = Math.min(0.95, Math.round(score * 100) / 100);
    if (score < 0.3) return null;
    return { category: 'ADDRESS', start, end, score, detector: this.name, explanation: why.join(', ') };
  }
}
