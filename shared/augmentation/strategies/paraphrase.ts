import { matchCase, protectedSpans, rewriteWords } from '../text';
import type { Strategy } from './types';

/**
 * Paraphrase: replaces a share (`rate`) of the words the lexicon has synonyms for, in user and
 * therapist turns. Crisis language, negations, numbers, [PLACEHOLDERS] and named entities are
 * protected and come through exactly (the re-check verifies it).
 */
export const paraphrase: Strategy = (record, { rng, lexicon, protectedWords, config }) => {
  const rate = config.strategies.paraphrase.rate;
  let replaced = 0;
  const messages = record.messages.map((m) => {
    if (m.role === 'system') return m;
    const spans = protectedSpans(m.content, protectedWords);
    const result = rewriteWords(m.content, spans, (word) => {
      const options = lexicon.synonyms[word.toLowerCase().replace(/’/g, "'")];
      if (!options || !rng.chance(rate)) return undefined;
      return matchCase(word, rng.pick(options));
    });
    replaced += result.changed;
    return result.changed > 0 ? { ...m, content: result.text } : m;
  });
  if (replaced === 0) return undefined;
  return { messages, params: { rate, replaced } };
};
