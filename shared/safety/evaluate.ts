/** Precision, recall and F1 of a set of predictions against gold labels. */
export interface Prf {
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  fn: number;
}

export function prf(tp: number, fp: number, fn: number): Prf {
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const r = (x: number) => Math.round(x * 10_000) / 10_000;
  return { precision: r(precision), recall: r(recall), f1: r(f1), tp, fp, fn };
}

export interface Span {
  type: string;
  start: number;
  end: number;
}

/**
 * Span-level matching: a prediction is a true positive when it has the gold span's type and
 * their character overlap is at least half of their union (IoU >= 0.5); each gold span matches
 * once. Returns per-type counts.
 */
export function matchSpans(gold: readonly Span[], predicted: readonly Span[], minIou = 0.5): Map<string, { tp: number; fp: number; fn: number }> {
  const counts = new Map<string, { tp: number; fp: number; fn: number }>();
  const bump = (type: string, key: 'tp' | 'fp' | 'fn') => {
    const c = counts.get(type) ?? { tp: 0, fp: 0, fn: 0 };
    c[key] += 1;
    counts.set(type, c);
  };
  const used = new Set<number>();
  for (const p of predicted) {
    let best = -1;
    let bestIou = minIou;
    gold.forEach((g, i) => {
      if (used.has(i) || g.type !== p.type) return;
      const inter = Math.max(0, Math.min(g.end, p.end) - Math.max(g.start, p.start));
      const union = Math.max(g.end, p.end) - Math.min(g.start, p.start);
      const iou = union === 0 ? 0 : inter / union;
      if (iou >= bestIou) {
        best = i;
        bestIou = iou;
      }
    });
    if (best >= 0) {
      used.add(best);
      bump(p.type, 'tp');
    } else {
      bump(p.type, 'fp');
    }
  }
  gold.forEach((g, i) => {
    if (!used.has(i)) bump(g.type, 'fn');
  });
  return counts;
}
