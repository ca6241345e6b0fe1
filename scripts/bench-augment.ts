import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { mapInOrder } from '../shared/util/pool';
import { LocalArtifactStore } from '../shared/artifacts';
import { addAugmentCounts, augmentShardInThread, emptyAugmentCounts, summarizeAugmentation } from '../shared/augmentation';
import { AugmentConfigSchema, PrepareConfigSchema, SafetyPolicySchema, type AugmentShardResult, type ShardRef } from '../shared/contracts';
import { GENERATOR_VERSION, prepareDataset, writeSyntheticJsonl } from '../shared/data';
import { SAFETY_STAGE_VERSION, filterShard } from '../shared/safety/filter';
import { createPiiEngine } from '../shared/safety/pii';
import { PRODUCTION_RECORDS, median } from './bench-data';
import { intOption } from './options';

/** Runs `run` over the items, `concurrency` at a time. */
export function registerBenchAugmentCommand(bench: Command): void {
  bench
    .command('augment')
    .description('Time the augmentation stage (with its safety re-check) on the production-size synthetic set; prints JSON')
    .option('--records <n>', 'synthetic records', intOption('--records', 1), PRODUCTION_RECORDS)
    .option('--repeat <n>', 'timed runs (the median is reported)', intOption('--repeat', 1, 20), 3)
    .option('--threads <n>', 'shards augmented at once, one thread each (default: the cores)', intOption('--threads', 1, 64), availableParallelism())
    .option('--crisis-model <mode>', 'crisis and name engines of the safety stage and the re-check: learned (default) or rules', 'learned')
    .action(async (opts: { records: number; repeat: number; threads: number; crisisModel: string }) => {
      if (opts.crisisModel !== 'learned' && opts.crisisModel !== 'rules') throw new Error('--crisis-model must be learned or rules');
      const file = path.join(tmpdir(), `pixel-bench-synthetic-v${GENERATOR_VERSION}-${opts.records}.jsonl`);
      if (!existsSync(file)) {
        console.error(`generating ${opts.records} records into ${file} (not timed) ...`);
        await writeSyntheticJsonl(`${file}.tmp`, opts.records, { seed: 42, crisisShare: 0.1, piiShare: 0.15 });
        await rename(`${file}.tmp`, file);
      }
      // Prepared and safety-filtered shards are content-addressed, so a second run reuses them.
      const storeDir = path.join(tmpdir(), `pixel-bench-augment-g${GENERATOR_VERSION}-s${SAFETY_STAGE_VERSION}-${opts.records}`);
      mkdirSync(storeDir, { recursive: true });
      const store = new LocalArtifactStore(storeDir);
      console.error('preparing and safety-filtering (not timed; cached after the first run) ...');
      const prepared = await prepareDataset({ config: PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: file } }), store, useCache: true });
      const engine = createPiiEngine();
      const policy = SafetyPolicySchema.parse({ crisisModel: opts.crisisModel, personModel: opts.crisisModel });
      const filtered: ShardRef[] = [];
      for (const shard of prepared.shards) {
        const r = await filterShard({ store, engine, shard, policy });
        filtered.push({ split: r.split, ...r.kept });
      }
      const config = AugmentConfigSchema.parse({ crisisModel: opts.crisisModel, personModel: opts.crisisModel });
      const train = filtered.filter((s) => config.splits.includes(s.split));
      const sourceRecords = train.reduce((n, s) => n + s.records, 0);
      const rates: number[] = [];
      let results: AugmentShardResult[] = [];
      for (let r = 0; r < opts.repeat; r++) {
        // Timed from a cold augmentation cache: every run does all the work.
        rmSync(path.join(storeDir, 'augment'), { recursive: true, force: true });
        console.error(
          `augmenting ${sourceRecords} train records in ${train.length} shards, ${opts.threads} at a time (run ${r + 1}/${opts.repeat}) ...`,
        );
        const started = process.hrtime.bigint();
        results = await mapInOrder(train, opts.threads, (shard) => augmentShardInThread({ store: { kind: 'local', root: storeDir }, shard, config }));
        rates.push(sourceRecords / (Number(process.hrtime.bigint() - started) / 1e9));
      }
      const counts = results.reduce((acc, s) => addAugmentCounts(acc, s.counts), emptyAugmentCounts());
      const summary = await summarizeAugmentation(store, prepared.datasetSha, results, config);
      console.log(
        JSON.stringify({
          benchmark: 'augment',
          crisisModel: config.crisisModel,
          personModel: config.personModel,
          sourceRecords,
          sourceRecordsPerSecond: Math.round(median(rates)),
          runs: rates.map(Math.round),
          threads: opts.threads,
          ratio: summary.ratio,
          ratioByStrategy: summary.ratioByStrategy,
          ratioByTopic: summary.ratioByTopic,
          kept: counts.kept,
          candidates: counts.candidates,
          discardedByReason: counts.discardedByReason,
          crisisShare: summary.crisisShare,
          generatedBySeverity: counts.generatedBySeverity,
          scope:
            'augmentation of the safety-filtered train split: five strategies, near-duplicate control and the safety re-check of every copy, reads and writes; median of the runs',
          target: { sourceRecordsPerSecond: 10_000, cores: 2 },
        }),
      );
    });
}
