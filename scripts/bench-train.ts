import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { createTrainActivities } from '../activities/fine-tune';
import { LocalArtifactStore } from '../shared/artifacts';
import { TrainConfigSchema, type TrainHeartbeat } from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { artifactSpecOf } from '../shared/training/fine-tune';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import type { ArtifactManifest } from '../shared/training/artifacts/train-step';
import { BatchStream, type Batch } from '../shared/training/data/batches';
import { createDefaultModel } from '../shared/training/model/default-model';
import { loadModelFolder } from '../shared/training/model/folder';
import { loadTokenizer } from '../shared/training/tokenizer/load';
import { intOption } from './options';

export function registerBenchTrainCommand(bench: Command): void {
  bench
    .command('train')
    .description(
      'Tokens/s of the training activity against the bare train-step loop on the same model, and the time a retried attempt takes to resume; prints JSON',
    )
    .option('--steps <n>', 'training steps per measurement', intOption('--steps', 10, 100_000), 120)
    .action(async (opts: { steps: number }) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'pixel-bench-train-'));
      try {
        const modelDir = path.join(dir, 'model');
        console.error('creating the default model and data (not timed) ...');
        await createDefaultModel(modelDir);
        const store = new LocalArtifactStore(path.join(dir, 'store'));
        const shard = async (name: string, split: string, from: number, n: number) => {
          const ref = await store.writeText(
            `data/${name}`,
            Array.from(
              { length: n },
              (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 8, crisisShare: 0.1, piiShare: 0 }), id: `${name}-${i}` })}\n`,
            ).join(''),
          );
          return { split, kind: 'source', ...ref, records: n };
        };
        const manifest = await store.writeText(
          'data/manifest.json',
          JSON.stringify({
            kind: 'augmented-dataset',
            shards: [await shard('train.jsonl', 'train', 0, 2000), await shard('val.jsonl', 'val', 50_000, 50)],
          }),
        );
        const config = TrainConfigSchema.parse({ model: modelDir, steps: opts.steps, warmupSteps: 5, evalEvery: 0, checkpointEvery: 20 });

        // The bare loop: the same train-step graph on batches prepared in advance, nothing else.
        const artifacts = await generateTrainingArtifacts(store, artifactSpecOf(config, modelDir));
        const file = (name: string) => fileURLToPath((artifacts.files[name] as { uri: string }).uri);
        const stepManifest = JSON.parse(await readFile(file(`train-step-${config.mode}.json`), 'utf8')) as ArtifactManifest;
        const session = await ort.InferenceSession.create(file(`train-step-${config.mode}.onnx`), {
          graphOptimizationLevel: 'all',
          intraOpNumThreads: config.threads,
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        });
        const tokenizer = await loadTokenizer(modelDir);
        const stream = new BatchStream([fileURLToPath(manifest.uri).replace('manifest.json', 'train.jsonl')], tokenizer, {
          batch: config.batch,
          seq: config.seq,
          padId: tokenizer.convert_tokens_to_ids('<|endoftext|>'),
          seed: 1,
          crisisWeight: 2,
        });
        const batches: Batch[] = [];
        for (let i = 0; i < opts.steps; i++) batches.push(await stream.next());
        const base = await loadModelFolder(modelDir);
        const state: Record<string, ort.Tensor> = {};
        for (const { name, shape } of stepManifest.trainable) {
          const n = shape.reduce((a, b) => a * b, 1);
          state[name] = new ort.Tensor(
            'float32',
            (base.weights.get(name)?.data as Float32Array | undefined) ?? new Float32Array(n).fill(name.endsWith('lora_A') ? 0.01 : 0),
            shape,
          );
          state[`${name}.m`] = new ort.Tensor('float32', new Float32Array(n), shape);
          state[`${name}.v`] = new ort.Tensor('float32', new Float32Array(n), shape);
        }
        const [b, s] = [config.batch, config.seq];
        console.error(`bare loop: ${opts.steps} steps ...`);
        let bareStart = process.hrtime.bigint();
        for (let i = 0; i < opts.steps; i++) {
          // Timed from the end of the first step, as the activity's figure is (first to last step).
          if (i === 1) bareStart = process.hrtime.bigint();
          const batch = batches[i] as Batch;
          const out = await session.run({
            ...state,
            input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.input, BigInt), [b, s]),
            targets: new ort.Tensor('int64', BigInt64Array.from(batch.target, BigInt), [b, s]),
            loss_mask: new ort.Tensor('float32', Float32Array.from(batch.mask), [b, s]),
            example_weight: new ort.Tensor('float32', Float32Array.from(batch.exampleWeight), [b]),
            lr: new ort.Tensor('float32', Float32Array.from([config.lr]), []),
            step: new ort.Tensor('float32', Float32Array.from([i + 1]), []),
          });
          for (const { name } of stepManifest.trainable) {
            state[name] = out[`${name}.next`] as ort.Tensor;
            state[`${name}.m`] = out[`${name}.m.next`] as ort.Tensor;
            state[`${name}.v`] = out[`${name}.v.next`] as ort.Tensor;
          }
        }
        const bareSeconds = Number(process.hrtime.bigint() - bareStart) / 1e9;
        await session.release();
        const bareTokensPerSecond = ((opts.steps - 1) * b * s) / bareSeconds;

        // The activity: the same steps with tokenising, streaming, heartbeats and checkpoints.
        const activities = createTrainActivities({ store, accelerator: { executionProvider: 'cpu', gpus: [], reason: 'bench' } });
        const measure = async (details?: TrainHeartbeat) => {
          const env = new MockActivityEnvironment(details ? { heartbeatDetails: details, attempt: 2 } : {});
          const beats: { at: number; beat: TrainHeartbeat }[] = [];
          env.on('heartbeat', (d: unknown) => {
            if (d && typeof d === 'object' && 'step' in d) beats.push({ at: Date.now(), beat: d as TrainHeartbeat });
          });
          const started = Date.now();
          const result = await env.run((input: Parameters<typeof activities.trainModelActivity>[0]) => activities.trainModelActivity(input), {
            config,
            dataManifestUri: manifest.uri,
            runId: 'bench',
          });
          return { result, beats, started };
        };
        console.error(`activity: ${opts.steps} steps ...`);
        const run = await measure();
        const steps = run.beats.filter((x) => x.beat.loss !== undefined);
        const firstBeat = steps[0] as { at: number; beat: TrainHeartbeat };
        const lastBeat = steps[steps.length - 1] as { at: number; beat: TrainHeartbeat };
        const activityTokensPerSecond = ((lastBeat.beat.step - firstBeat.beat.step) * b * s) / ((lastBeat.at - firstBeat.at) / 1000);

        // A retried attempt: from its start to its first step after the checkpoint it resumes from.
        const checkpointBeat = run.beats.find((x) => x.beat.checkpointUri && x.beat.step >= Math.floor(opts.steps / 2))?.beat;
        let resumeSeconds: number | null = null;
        if (checkpointBeat) {
          console.error('resume ...');
          const resumed = await measure({ ...checkpointBeat, step: checkpointBeat.step });
          const first = resumed.beats.find((x) => x.beat.loss !== undefined && x.beat.step > checkpointBeat.step);
          if (first) resumeSeconds = (first.at - resumed.started) / 1000;
        }
        console.log(
          JSON.stringify({
            benchmark: 'train',
            model: 'default (3.4M parameters)',
            mode: config.mode,
            batch: b,
            seq: s,
            steps: opts.steps,
            activityTokensPerSecond: Math.round(activityTokensPerSecond),
            bareTokensPerSecond: Math.round(bareTokensPerSecond),
            overheadFraction: Math.round((1 - activityTokensPerSecond / bareTokensPerSecond) * 1000) / 1000,
            resumeSeconds,
            scope:
              'activity: steady-state tokens/s between its first and last step heartbeat (tokenising and streaming batches, heartbeats, a checkpoint every 20 steps), in its worker thread; bare: the same graph on batches prepared in advance; resume: a retried attempt from its start to its first step past the checkpoint (artifacts cached), not counting the heartbeat timeout that detects a dead worker',
            target: { overheadFraction: 0.1 },
          }),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
}
