/**
 * Linear-time checks that hold on a busy, shared machine: they compare how the time grows from
 * an input to one four times longer, measured in the same run (medians of three), rather than
 * against a wall-clock limit. Linear code grows about 4x, quadratic about 16x.
 */
function medianMs(run: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return times.sort((a, b) => a - b)[1] as number;
}

/** How `run`'s time grows from `make(n)` to `make(4n)`. */
export function growth(run: (input: string) => unknown, make: (n: number) => string, n: number): { ratio: number; smallMs: number; largeMs: number } {
  const small = make(n);
  const large = make(4 * n);
  run(small); // warm up the regex engine and the JIT
  const smallMs = medianMs(() => run(small));
  const largeMs = medianMs(() => run(large));
  return { ratio: largeMs / Math.max(smallMs, 0.05), smallMs, largeMs };
}

/**
 * Expects `run` to be linear in its input: four times the input takes less than nine times as
 * long (quadratic code takes sixteen), unless the longer input takes under 20 ms, where timer
 * noise is all there is to measure.
 */
export function expectLinear(run: (input: string) => unknown, make: (n: number) => string, n = 25_000): void {
  const g = growth(run, make, n);
  if (g.largeMs < 20) return;
  expect({ ...g, linear: g.ratio < 9 }).toMatchObject({ linear: true });
}
