import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import { PrepareConfigSchema, SafetyPolicySchema } from '../shared/contracts';
import { generateConversation, prepareDataset } from '../shared/data';
import { filterShard } from '../shared/safety/filter';
import { detectBias } from '../shared/safety/bias/bias';
import { evaluateCrowsPairs } from '../shared/safety/bias/fairness';
import { assessCrisis } from '../shared/safety/crisis/assess';
import { evaluateCssrs } from '../shared/safety/crisis/cssrs-eval';
import { createPiiEngine } from '../shared/safety/pii';
import { evaluatePresidio } from '../shared/safety/pii/presidio-eval';
import { intOption } from './options';

const DATA = path.resolve(__dirname, '..', '..', 'shared', 'data');

export function registerBenchSafetyCommand(bench: Command): void {
  bench
    .command('safety')
    .description('Accuracy of the safety detectors on public data, and their throughput; prints JSON')
    .option('--texts <n>', 'synthetic texts for the throughput run', intOption('--texts', 1000), 100_000)
    .option('--stage-records <n>', 'synthetic conversations for the whole-stage run (0 skips it)', intOption('--stage-records', 0), 20_000)
    .action(async (opts: { texts: number; stageRecords: number }) => {
      const engine = createPiiEngine();
      const presidio = path.join(DATA, 'pii_presidio_generated_large.json');
      if (!existsSync(presidio)) throw new Error(`${presidio} is missing: the benchmark needs ../shared/data`);
      const pii = evaluatePresidio(presidio, engine);
      const cssrs = path.join(DATA, 'cssrs_reddit_500_users.csv');
      if (!existsSync(cssrs)) throw new Error(`${cssrs} is missing: the benchmark needs ../shared/data`);
      const flagged = evaluateCssrs(cssrs, 1);
      const suicidalOnly = evaluateCssrs(cssrs, 2);
      const crows = path.join(DATA, 'crows_pairs.csv');
      if (!existsSync(crows)) throw new Error(`${crows} is missing: the benchmark needs ../shared/data`);
      const bias = { byType: evaluateCrowsPairs(crows), unit: 'share of CrowS-Pairs sentences flagged, more- vs less-stereotyping' };
      const crisis = {
        precision: flagged.precision,
        recall: flagged.recall,
        f1: flagged.f1,
        severityAgreement: flagged.severityAgreement,
        users: flagged.users,
        unit: 'user, flagged when any post has a crisis finding (as the safety stage labels)',
        suicidalContentOnly: { precision: suicidalOnly.precision, recall: suicidalOnly.recall, f1: suicidalOnly.f1 },
      };

      // Throughput on the synthetic conversations' message texts, one core (this thread).
      const texts: string[] = [];
      for (let i = 0; texts.length < opts.texts; i++) {
        for (const m of generateConversation(i, { seed: 42, crisisShare: 0.1, piiShare: 0.15 }).messages) texts.push(m.content);
      }
      texts.length = opts.texts;
      const scan = (t: string) => {
        engine.detect(t);
        assessCrisis(t);
        detectBias(t);
      };
      for (const t of texts.slice(0, 2000)) scan(t); // warm up
      const runs: number[] = [];
      for (let r = 0; r < 3; r++) {
        const started = process.hrtime.bigint();
        for (const t of texts) scan(t);
        runs.push(texts.length / (Number(process.hrtime.bigint() - started) / 1e9));
      }
      runs.sort((a, b) => a - b);

      // The whole stage on one core: prepared shards in, kept / rejected / audit out.
      let stage: { records: number; recordsPerSecond: number } | undefined;
      if (opts.stageRecords > 0) {
        const dir = mkdtempSync(path.join(tmpdir(), 'pixel-bench-safety-'));
        try {
          const store = new LocalArtifactStore(dir);
          const prepared = await prepareDataset({
            config: PrepareConfigSchema.parse({ source: { kind: 'synthetic', count: opts.stageRecords } }),
            store,
          });
          const policy = SafetyPolicySchema.parse({});
          const started = process.hrtime.bigint();
          let records = 0;
          for (const shard of prepared.shards) records += (await filterShard({ store, engine, shard, policy })).counts.records;
          stage = { records, recordsPerSecond: Math.round(records / (Number(process.hrtime.bigint() - started) / 1e9)) };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      console.log(
        JSON.stringify({
          benchmark: 'safety',
          pii,
          crisis,
          bias,
          textsPerSecondPerCore: Math.round(runs[1] as number),
          ...(stage
            ? {
                stage: {
                  ...stage,
                  scope: 'safety stage on one core over prepared synthetic shards (every message of every conversation, redaction, writes)',
                },
              }
            : {}),
          throughputScope: 'PII engine + crisis assessment + bias detection on synthetic message texts, median of 3 runs, one thread',
          targets: { piiF1: { structured: 0.95, PERSON: 0.8, ADDRESS: 0.8 }, crisis: { f1: 0.8, recall: 0.9 }, textsPerSecondPerCore: 20_000 },
        }),
      );
    });
}
