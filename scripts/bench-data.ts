import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { GENERATOR_VERSION, writeSyntheticJsonl } from '../shared/data';
import { runJsonChild } from './bench/json-child';
import { intOption } from './options';

/** Size of the production dataset the preparation stage must handle. */
export const PRODUCTION_RECORDS = 608_458;

interface Measurement {
  records: number;
  accepted: number;
  quarantined: number;
  byReason: Record<string, number>;
  seconds: number;
  recordsPerSecond: number;
  peakRssMb: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function registerBenchDataCommand(bench: Command): void {
  bench
    .command('data')
    .description('Time the data-preparation stage on the production-size synthetic dataset; prints JSON')
    .option('--records <n>', 'records to generate', intOption('--records', 1), PRODUCTION_RECORDS)
    .option('--repeat <n>', 'timed runs (the median is reported)', intOption('--repeat', 1, 20), 3)
    .option('--no-single-thread', 'skip the single-threaded comparison runs')
    .action(async (opts: { records: number; repeat: number; singleThread: boolean }) => {
      const file = path.join(tmpdir(), `pixel-bench-synthetic-v${GENERATOR_VERSION}-${opts.records}.jsonl`);
      if (!existsSync(file)) {
        console.error(`generating ${opts.records} records into ${file} (not timed) ...`);
        await writeSyntheticJsonl(`${file}.tmp`, opts.records, { seed: 42, crisisShare: 0.1, piiShare: 0.15 });
        await import('node:fs/promises').then((fs) => fs.rename(`${file}.tmp`, file));
      }
      // Both modes in one run, interleaved, so their ratio is measured under the same load.
      const measure = async (threads: 'auto' | '0'): Promise<Measurement> => {
        const storeDir = mkdtempSync(path.join(tmpdir(), 'pixel-bench-store-'));
        try {
          return await runJsonChild<Measurement>('prepare-once', process.execPath, [
            '--import',
            'tsx',
            path.join(__dirname, 'bench', 'prepare-once.ts'),
            file,
            storeDir,
            ...(threads === '0' ? ['0'] : []),
          ]);
        } finally {
          rmSync(storeDir, { recursive: true, force: true });
        }
      };
      const runs: Measurement[] = [];
      const single: Measurement[] = [];
      for (let i = 0; i < opts.repeat; i++) {
        const m = await measure('auto');
        runs.push(m);
        console.error(`run ${i + 1}/${opts.repeat}: ${Math.round(m.recordsPerSecond)} records/s, peak RSS ${m.peakRssMb.toFixed(0)} MB`);
        if (opts.singleThread) {
          const s = await measure('0');
          single.push(s);
          console.error(`  single-threaded: ${Math.round(s.recordsPerSecond)} records/s, peak RSS ${s.peakRssMb.toFixed(0)} MB`);
        }
      }
      const first = runs[0] as Measurement;
      const result = {
        benchmark: 'data-prepare',
        records: first.records,
        accepted: first.accepted,
        quarantined: first.quarantined,
        byReason: first.byReason,
        inputMb: Number((statSync(file).size / 1e6).toFixed(1)),
        runs: runs.length,
        recordsPerSecond: Math.round(median(runs.map((r) => r.recordsPerSecond))),
        recordsPerSecondRuns: runs.map((r) => Math.round(r.recordsPerSecond)),
        secondsMedian: Number(median(runs.map((r) => r.seconds)).toFixed(2)),
        peakRssMb: Math.round(Math.max(...runs.map((r) => r.peakRssMb))),
        cpus: availableParallelism(),
        ...(single.length > 0
          ? {
              singleThread: {
                recordsPerSecond: Math.round(median(single.map((r) => r.recordsPerSecond))),
                peakRssMb: Math.round(Math.max(...single.map((r) => r.peakRssMb))),
              },
            }
          : {}),
        targets: { recordsPerSecond: 40_000, peakRssMb: 512 },
      };
      console.log(JSON.stringify(result));
    });
}
