/**
 * Linear-time checks that hold on a busy, shared machine: they compare how the time grows from
 * an input to one four times longer, measured in the same run, rather than against a wall-clock
 * limit. Linear code grows about 4x, quadratic about 16x. Each size keeps the fastest of five
 * runs: other processes and a garbage collection only ever add time, so the minimum is the
 * measurement least disturbed by them.
 */
function fastestMs(run: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const started = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
  }
  return best;
}

/** How `run`'s time grows from `make(n)` to `make(4n)`. */
export function growth(run: (input: string) => unknown, make: (n: number) => string, n: number): { ratio: number; smallMs: number; largeMs: number } {
  const small = make(n);
  const large = make(4 * n);
  run(small); // warm up the regex engine and the JIT
  const smallMs = fastestMs(() => run(small));
  const largeMs = fastestMs(() => run(large));
  return { ratio: largeMs / Math.max(smallMs, 0.05), smallMs, largeMs };
}

/**
 * Expects `run` to be linear in its input: four times the input takes less than nine times as
 * long (quadratic code takes sixteen), unless the longer input takes under 20 ms, where timer
 * noise is all there is to measure. A busy machine can stall one measurement, so a ratio over
 * nine is measured again, up to three times in all; quadratic code is over nine every time.
 */
export function expectLinear(run: (input: string) => unknown, make: (n: number) => string, n = 25_000): void {
  let g = growth(run, make, n);
  for (let attempt = 1; attempt < 3 && g.largeMs >= 20 && g.ratio >= 9; attempt++) g = growth(run, make, n);
  if (g.largeMs < 20) return;
  expect({ ...g, linear: g.ratio < 9 }).toMatchObject({ linear: true });
}
