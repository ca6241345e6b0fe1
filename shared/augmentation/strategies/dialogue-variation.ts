import type { TechniqueName } from '../lexicon';
import type { Rng } from '../../util/rng';
import { matchCase, protectedSpans, replacePhrase } from '../text';
import type { Strategy } from './types';

function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Lower-cases the first letter when it only starts a sentence ("Work is ..." -> "work is ..."), not "I" or a [PLACEHOLDER]. */
function lowerFirst(text: string): string {
  if (/^(?:I\b|I['’]|\[|\p{Lu}{2})/u.test(text)) return text;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * Dialogue variation: the person says the same thing another way (an equivalent phrasing, or a
 * hedge like "Honestly,"), and the therapist's sentences open differently with the same
 * technique (a reflection stays a reflection, an open question stays open). Crisis language and
 * negations are protected, so no swap can touch them.
 */
export const dialogueVariation: Strategy = (record, { rng, lexicon, protectedWords }) => {
  const userEdits: string[] = [];
  const techniques: TechniqueName[] = [];
  const hedges = lexicon.userFrames.hedges.filter((h) => h.endsWith(','));
  const openers = (Object.entries(lexicon.techniques) as [TechniqueName, { openers: string[] }][])
    .flatMap(([technique, t]) => t.openers.map((opener) => ({ technique, opener })))
    .sort((a, b) => b.opener.length - a.opener.length);
  const messages = record.messages.map((m) => {
    if (m.role === 'user') {
      if (!rng.chance(0.7)) return m;
      const spans = protectedSpans(m.content, protectedWords);
      for (const [a, b] of shuffled(lexicon.userFrames.swaps, rng)) {
        const [from, to] = rng.chance(0.5) ? [a, b] : [b, a];
        const result = replacePhrase(m.content, spans, from, to);
        if (result.changed > 0) {
          userEdits.push(`${from} -> ${to}`);
          return { ...m, content: result.text };
        }
      }
      if (hedges.length > 0 && !hedges.some((h) => m.content.startsWith(h))) {
        const hedge = rng.pick(hedges);
        userEdits.push(`hedge ${hedge}`);
        return { ...m, content: `${hedge} ${lowerFirst(m.content)}` };
      }
      return m;
    }
    if (m.role !== 'assistant') return m;
    let text = m.content;
    const starts = [0, ...[...text.matchAll(/[.!?]["”')]?\s+/g)].map((x) => (x.index ?? 0) + x[0].length)];
    // Right to left, so earlier offsets stay valid.
    for (const start of starts.reverse()) {
      const rest = text.slice(start);
      const hit = openers.find(({ opener }) => rest.toLowerCase().startsWith(opener.toLowerCase()) && !/^[\p{L}]/u.test(rest.slice(opener.length)));
      if (!hit || !rng.chance(0.8)) continue;
      const choices = lexicon.techniques[hit.technique].openers;
      const next = rng.pickOther(choices, choices.find((c) => c.toLowerCase() === hit.opener.toLowerCase()) ?? hit.opener);
      text = text.slice(0, start) + matchCase(rest.slice(0, hit.opener.length), next) + rest.slice(hit.opener.length);
      techniques.push(hit.technique);
    }
    return text === m.content ? m : { ...m, content: text };
  });
  if (userEdits.length === 0 && techniques.length === 0) return undefined;
  return { messages, params: { userEdits, techniques: techniques.reverse() } };
};
