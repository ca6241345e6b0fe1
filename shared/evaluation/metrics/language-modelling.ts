import type { ExampleLoss } from '../../contracts';
import { bootstrapRatio, type Estimate } from './aggregate';

export interface LanguageModelling {
  /** Mean negative log-likelihood per assistant token (nats), with its interval over conversations. */
  loss: Estimate;
  /** exp(loss), with the interval mapped through exp. */
  perplexity: Estimate;
  tokens: number;
  conversations: number;
}

/**
 * Loss and perplexity of a model on held-out conversations, counting only the tokens of the
 * therapist's replies (what the model is trained to write), token-weighted across
 * conversations. Lower is better. It tells how well the model predicts the data set's replies;
 * it cannot tell whether its own replies are safe, kind or clinically sound (a model can
 * predict common phrasings well and still answer a crisis badly), and it compares models only
 * when they share a tokenizer.
 */
export function languageModelling(losses: readonly ExampleLoss[], resamples: number, seed: number): LanguageModelling {
  const loss = bootstrapRatio(
    losses.map((l) => l.nll),
    losses.map((l) => l.tokens),
    resamples,
    seed,
  );
  return {
    loss,
    perplexity: { n: loss.n, mean: Math.exp(loss.mean), low: Math.exp(loss.low), high: Math.exp(loss.high) },
    tokens: losses.reduce((a, l) => a + l.tokens, 0),
    conversations: losses.length,
  };
}

/**
 * Paired change in loss (candidate minus baseline) over the conversations both scored, with a
 * bootstrap interval over conversations. Negative means the candidate predicts the replies better.
 */
export function lossDelta(candidate: readonly ExampleLoss[], baseline: readonly ExampleLoss[], resamples: number, seed: number): Estimate {
  const base = new Map(baseline.map((l) => [l.recordId, l]));
  const pairs = candidate.filter((c) => base.has(c.recordId) && base.get(c.recordId)!.tokens === c.tokens);
  // Σ(nll_c - nll_b) / Σ tokens: the difference of the two token-weighted means on the shared conversations.
  return bootstrapRatio(
    pairs.map((c) => c.nll - base.get(c.recordId)!.nll),
    pairs.map((c) => c.tokens),
    resamples,
    seed,
  );
}
