/**
 * Runs `run` over every item, at most `concurrency` at a time, and resolves with the results in
 * item order; `onDone` hears how many have finished. Plain promise code with no Node API, so
 * workflows use it too (their fan-out of shard activities), as do servers and scripts.
 */
export async function mapInOrder<T, R>(
  items: readonly T[],
  concurrency: number,
  run: (item: T, index: number) => Promise<R>,
  onDone?: (done: number) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i] as T, i);
      done += 1;
      onDone?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  return results;
}
