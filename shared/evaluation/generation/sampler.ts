import type { Rng } from '../../util/rng';
import type { SamplingConfig } from '../../contracts/evaluation';

/**
 * Picks the next token from one row of logits: repetition penalty on the tokens already
 * generated (positive logits divided, negative ones multiplied, as in the CTRL paper and
 * Hugging Face), then greedy when `temperature` is 0, else temperature, top-k and top-p
 * (nucleus) filtering and a draw from `rng`. Ties go to the lower token id, so the result
 * depends only on the logits, the settings and the random stream.
 */
export function sampleToken(
  logits: Float32Array | number[],
  generated: readonly number[],
  config: Pick<SamplingConfig, 'temperature' | 'topK' | 'topP' | 'repetitionPenalty'>,
  rng: Rng,
): number {
  const v = logits.length;
  if (config.temperature === 0) {
    // Greedy without a copy of the row: the raw best token (the first of equal maxima) is the
    // answer unless the penalty applies to it, since the penalty only ever lowers a score.
    let best = 0;
    for (let i = 1; i < v; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
    if (config.repetitionPenalty === 1 || !generated.includes(best)) return best;
  }
  // A penalised copy of the row; without a penalty the row itself (copying a vocabulary per token
  // cost more than the rest of the draw).
  const scores: ArrayLike<number> & { [i: number]: number } = config.repetitionPenalty === 1 ? logits : new Float64Array(logits);
  if (config.repetitionPenalty !== 1) {
    for (const t of new Set(generated)) {
      if (t < 0 || t >= v) continue;
      const s = scores[t] as number;
      scores[t] = s > 0 ? s / config.repetitionPenalty : s * config.repetitionPenalty;
    }
  }
  if (config.temperature === 0) {
    let best = 0;
    for (let i = 1; i < v; i++) if ((scores[i] as number) > (scores[best] as number)) best = i;
    return best;
  }
  const k = config.topK > 0 ? Math.min(config.topK, v) : v;
  const order = topIndices(scores, k);
  const max = scores[order[0] as number] as number;
  const probs: number[] = [];
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const p = Math.exp(((scores[order[i] as number] as number) - max) / config.temperature);
    probs.push(p);
    sum += p;
  }
  // Nucleus: the smallest prefix whose probability reaches top-p (at least one token).
  let keep = 0;
  let mass = 0;
  while (keep < probs.length) {
    mass += (probs[keep] as number) / sum;
    keep += 1;
    if (mass >= config.topP) break;
  }
  let total = 0;
  for (let i = 0; i < keep; i++) total += probs[i] as number;
  let r = rng.next() * total;
  for (let i = 0; i < keep; i++) {
    r -= probs[i] as number;
    if (r < 0) return order[i] as number;
  }
  return order[keep - 1] as number;
}

/** Negative log-likelihood of `target` under one row of logits (log-sum-exp, in float64). */
export function tokenNll(logits: Float32Array, offset: number, vocab: number, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if ((logits[offset + i] as number) > max) max = logits[offset + i] as number;
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp((logits[offset + i] as number) - max);
  return Math.log(sum) + max - (logits[offset + target] as number);
}

/**
 * The `k` highest scores' indices, highest first, ties to the lower index. For a few of many
 * (a sampler's or the exact head's candidates among a vocabulary), a threshold from a strided
 * sample of the scores is taken first and one tight pass keeps every score at or above it; when
 * at least `k` pass, the answer is among them (exact, not approximate), and only they are
 * sorted. Otherwise, and for large `k`, a size-k min-heap, O(v log k).
 */
export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  const n = scores.length;
  if (k * 16 <= n && k > 0) {
    const stride = Math.max(1, Math.floor(n / 1024));
    const sample = new Float64Array(Math.ceil(n / stride));
    for (let i = 0, j = 0; i < n; i += stride, j++) sample[j] = scores[i] as number;
    sample.sort(); // ascending, numerically (a typed array's own sort: no comparator calls)
    // About 4k survivors expected: the sample's rank from the top, scaled to the whole.
    const threshold = sample[Math.max(0, sample.length - 1 - Math.ceil((4 * k * sample.length) / n))] as number;
    const passed: number[] = [];
    for (let i = 0; i < n; i++) if ((scores[i] as number) >= threshold) passed.push(i);
    if (passed.length >= k) return passed.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b).slice(0, k);
  }
  // "a ranks below b": a lower score, or the same score and a higher index.
  const below = (a: number, b: number) => (scores[a] as number) < (scores[b] as number) || ((scores[a] as number) === (scores[b] as number) && a > b);
  const heap: number[] = [];
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && below(heap[l] as number, heap[m] as number)) m = l;
      if (r < heap.length && below(heap[r] as number, heap[m] as number)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as number, heap[i] as number];
      i = m;
    }
  };
  for (let t = 0; t < scores.length; t++) {
    if (heap.length < k) {
      heap.push(t);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!below(heap[i] as number, heap[p] as number)) break;
        [heap[i], heap[p]] = [heap[p] as number, heap[i] as number];
        i = p;
      }
    } else if (below(heap[0] as number, t)) {
      heap[0] = t;
      down(0);
    }
  }
  return heap.sort((a, b) => (below(a, b) ? 1 : below(b, a) ? -1 : 0));
}
