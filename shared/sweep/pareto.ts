import type { SweepObjective } from '../contracts';

/** Objective values turned so that lower is better for every objective. */
export const minimizing = (values: readonly number[], objectives: readonly SweepObjective[]): number[] =>
  values.map((v, i) => (objectives[i]?.direction === 'maximize' ? -v : v));

/** Whether `a` is at least as good as `b` everywhere and better somewhere (both minimizing). */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    if ((a[i] as number) > (b[i] as number)) return false;
    if ((a[i] as number) < (b[i] as number)) better = true;
  }
  return better;
}

/** Non-dominated sorting (points minimizing): fronts of indices, the Pareto front first. */
export function nondominatedFronts(points: readonly (readonly number[])[]): number[][] {
  const n = points.length;
  const dominatedBy = new Array<number>(n).fill(0);
  const dominating: number[][] = points.map(() => []);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      if (dominates(points[i] as number[], points[j] as number[])) {
        (dominating[i] as number[]).push(j);
        dominatedBy[j] = (dominatedBy[j] as number) + 1;
      } else if (dominates(points[j] as number[], points[i] as number[])) {
        (dominating[j] as number[]).push(i);
        dominatedBy[i] = (dominatedBy[i] as number) + 1;
      }
    }
  const fronts: number[][] = [];
  let current = points.map((_, i) => i).filter((i) => dominatedBy[i] === 0);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current)
      for (const j of dominating[i] as number[]) {
        dominatedBy[j] = (dominatedBy[j] as number) - 1;
        if (dominatedBy[j] === 0) next.push(j);
      }
    current = next.sort((a, b) => a - b);
  }
  return fronts;
}

/** Crowding distance of each index of a front (NSGA-II): larger means more isolated; the ends are infinite. */
export function crowdingDistance(front: readonly number[], points: readonly (readonly number[])[]): Map<number, number> {
  const distance = new Map<number, number>(front.map((i) => [i, 0]));
  const m = (points[front[0] as number] ?? []).length;
  for (let k = 0; k < m; k++) {
    const sorted = [...front].sort((a, b) => (points[a] as number[])[k]! - (points[b] as number[])[k]! || a - b);
    const lo = (points[sorted[0] as number] as number[])[k] as number;
    const hi = (points[sorted[sorted.length - 1] as number] as number[])[k] as number;
    distance.set(sorted[0] as number, Infinity);
    distance.set(sorted[sorted.length - 1] as number, Infinity);
    if (hi === lo) continue;
    for (let s = 1; s < sorted.length - 1; s++) {
      const i = sorted[s] as number;
      const gap = ((points[sorted[s + 1] as number] as number[])[k]! - (points[sorted[s - 1] as number] as number[])[k]!) / (hi - lo);
      distance.set(i, (distance.get(i) as number) + gap);
    }
  }
  return distance;
}

/**
 * Indices ordered best first (minimizing): by front, then by crowding distance within a front
 * (isolated points first), then by index. With one objective this is plain sorting by value.
 */
export function rankPoints(points: readonly (readonly number[])[]): number[] {
  const out: number[] = [];
  for (const front of nondominatedFronts(points)) {
    const crowd = crowdingDistance(front, points);
    out.push(...[...front].sort((a, b) => (crowd.get(b) as number) - (crowd.get(a) as number) || a - b));
  }
  return out;
}
