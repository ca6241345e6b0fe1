import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { failureMessage } from '../../client/follow';

/** Cleanup steps run once, last added first, whether the bench succeeds, fails or is interrupted. */
export class Teardown {
  private readonly steps: { name: string; run: () => Promise<void> | void }[] = [];
  private done: Promise<void> | undefined;

  add(name: string, run: () => Promise<void> | void): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.done ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (err) {
          console.error(`cleanup (${step.name}) failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.done;
  }
}

/**
 * Runs a benchmark in a temp dir of its own with a {@link Teardown} that always runs: on success,
 * on failure (one line, `bench <name> failed: ...`) and on SIGINT / SIGTERM.
 */
export async function runBench(name: string, run: (dir: string, teardown: Teardown) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), `pixel-bench-${name}-`));
  const teardown = new Teardown();
  teardown.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: stopping the dev server and removing ${dir}`);
    void teardown.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await run(dir, teardown);
  } catch (err) {
    throw new Error(`bench ${name} failed: ${failureMessage(err).replace(/\s+/g, ' ')}`);
  } finally {
    await teardown.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
