import type { Message } from '../../contracts';
import type { AugmentLexicon } from '../lexicon';
import type { Rng } from '../../util/rng';
import { matchCase } from '../text';
import type { Strategy } from './types';

type Gender = 'male' | 'female';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Words after which "her" is an object ("told her that"), not a possessive ("her job"). */
const NOT_A_NOUN =
  /^\s*(?:[^\p{L}\s]|$|(?:and|or|but|to|that|about|a|an|the|up|out|off|in|on|at|for|with|again|anymore|so|too|if|when|because|how|what|yet|back|down|over|feel|know|)\b)/iu;

interface Compiled {
  gender: Record<Gender, RegExp>;
  swap: Record<Gender, { regex: RegExp; map: Map<string, string> }>;
  lists: Record<'families' | 'celebrations' | 'ages' | 'occupations', { regex: RegExp; options: string[] }>;
}

const alternation = (words: readonly string[]) =>
  [...words]
    .sort((a, b) => b.length - a.length)
    .map(esc)
    .join('|');
const compiledCache = new WeakMap<AugmentLexicon, Compiled>();

/** The lexicon's word lists as one regular expression each, built once per lexicon. */
function compile(lexicon: AugmentLexicon): Compiled {
  const cached = compiledCache.get(lexicon);
  if (cached) return cached;
  const d = lexicon.demographic;
  const bounded = (words: readonly string[], flags: string) => new RegExp(String.raw`(?<![\p{L}'’])(?:${alternation(words)})(?![\p{L}'’])`, flags);
  const genderWords = (g: Gender) => [...d.relations.map((r) => r[g]), ...d.relations.map((r) => `${r[g]}s`), ...Object.values(d.pronouns[g])];
  const swapFor = (from: Gender) => {
    const to: Gender = from === 'male' ? 'female' : 'male';
    const map = new Map<string, string>();
    for (const r of d.relations) {
      map.set(r[from].toLowerCase(), r[to]);
      map.set(`${r[from].toLowerCase()}s`, `${r[to]}s`);
    }
    const pf = d.pronouns[from];
    const pt = d.pronouns[to];
    for (const k of ['subject', 'object', 'possessive', 'reflexive'] as const) if (!map.has(pf[k])) map.set(pf[k], pt[k]);
    return { regex: bounded([...map.keys()], 'giu'), map };
  };
  const list = (options: string[]) => ({ regex: bounded(options, 'iu'), options });
  const compiled: Compiled = {
    gender: { male: bounded(genderWords('male'), 'iu'), female: bounded(genderWords('female'), 'iu') },
    swap: { male: swapFor('male'), female: swapFor('female') },
    lists: {
      families: list(d.families),
      celebrations: list(d.celebrations),
      ages: list(d.ages),
      occupations: {
        regex: new RegExp(String.raw`(?<=\b(?:as|am|I'm|I’m|being|work(?:ing)? as)\s(?:a|an)\s)(?:${alternation(d.occupations)})(?![\p{L}])`, 'iu'),
        options: d.occupations,
      },
    },
  };
  compiledCache.set(lexicon, compiled);
  return compiled;
}

/** Which genders the gendered words of a text refer to. */
function gendersIn(text: string, c: Compiled): Set<Gender> {
  const found = new Set<Gender>();
  for (const g of ['male', 'female'] as const) if (c.gender[g].test(text)) found.add(g);
  return found;
}

/** Every gendered word of one gender turned into the other, pronouns included ("his" / "her" by what follows). */
function swapGender(text: string, from: Gender, lexicon: AugmentLexicon, c: Compiled): string {
  const { regex, map } = c.swap[from];
  const pf = lexicon.demographic.pronouns[from];
  const pt = lexicon.demographic.pronouns[from === 'male' ? 'female' : 'male'];
  regex.lastIndex = 0;
  return text.replace(regex, (m: string, offset: number) => {
    const lower = m.toLowerCase();
    // "her" is both object and possessive; the word after it decides.
    if (lower === pf.object && pf.object === pf.possessive)
      return matchCase(m, NOT_A_NOUN.test(text.slice(offset + m.length)) ? pt.object : pt.possessive);
    return matchCase(m, map.get(lower) ?? m);
  });
}

/** Replaces the first listed phrase found in the text with another one from the same list. */
function swapOne(
  text: string,
  list: { regex: RegExp; options: string[] },
  rng: Rng,
): { text: string; from: string; to: string; index: number } | undefined {
  const m = list.regex.exec(text);
  if (!m) return undefined;
  const from = list.options.find((o) => o.toLowerCase() === m[0].toLowerCase()) ?? m[0];
  const to = rng.pickOther(list.options, from);
  return { text: text.slice(0, m.index) + matchCase(m[0], to) + text.slice(m.index + m[0].length), from, to, index: m.index };
}

/**
 * Demographic diversity: varies gender (relation words and pronouns, consistently, when the
 * conversation refers to one gender only), family structure, occupation, celebrations and age
 * ranges. Values are drawn uniformly from the lexicon's lists, and an occupation never lands
 * in a pairing the lexicon lists as stereotyped for the gender the text then refers to. Names
 * stay the placeholders the safety stage put there.
 */
export const demographic: Strategy = (record, { rng, lexicon }) => {
  const d = lexicon.demographic;
  const c = compile(lexicon);
  const swaps: { kind: string; from: string; to: string }[] = [];
  const all = record.messages.map((m) => m.content).join('\n');
  const genders = gendersIn(all, c);
  const from: Gender | undefined = genders.size === 1 ? [...genders][0] : undefined;
  const doGender = from !== undefined && rng.chance(0.5);
  const messages: Message[] = record.messages.map((m) => {
    if (m.role === 'system') return m;
    let text = m.content;
    if (doGender && from) {
      const next = swapGender(text, from, lexicon, c);
      if (next !== text) swaps.push({ kind: 'gender', from, to: from === 'male' ? 'female' : 'male' });
      text = next;
    }
    for (const kind of ['families', 'celebrations', 'ages'] as const) {
      const s = swapOne(text, c.lists[kind], rng);
      if (s) {
        swaps.push({ kind, from: s.from, to: s.to });
        text = s.text;
      }
    }
    const occupation = swapOne(text, c.lists.occupations, rng);
    if (occupation) {
      // Never a pairing the lexicon lists as stereotyped for the one gender the text refers to.
      const after = gendersIn(occupation.text, c);
      const single = after.size === 1 ? [...after][0] : undefined;
      const banned = new Set(d.stereotypedPairings.filter((p) => p.gender === single).flatMap((p) => p.occupations));
      let to = occupation.to;
      for (let tries = 0; banned.has(to) && tries < 8; tries++) to = rng.pickOther(d.occupations, occupation.from);
      if (!banned.has(to)) {
        const before = text
          .slice(0, occupation.index)
          .replace(/\b([Aa])n?(\s)$/u, (_m: string, a: string, space: string) => `${a}${/^[aeiou]/i.test(to) ? 'n' : ''}${space}`);
        text =
          before +
          matchCase(text.slice(occupation.index, occupation.index + occupation.from.length), to) +
          text.slice(occupation.index + occupation.from.length);
        swaps.push({ kind: 'occupation', from: occupation.from, to });
      }
    }
    return text === m.content ? m : { ...m, content: text };
  });
  if (swaps.length === 0) return undefined;
  return { messages, params: { swaps } };
};
