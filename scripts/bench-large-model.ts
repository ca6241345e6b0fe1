import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import { SamplingConfigSchema, TrainConfigSchema, type TrainConfig } from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { generateResponses, openModel } from '../shared/evaluation/generation/engine';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import { fineTune } from '../shared/training/fine-tune';
import { artifactSpecOf } from '../shared/training/fine-tune-spec';
import { NEMO_2_LAYERS, writeShardedBf16Model } from '../shared/training/model/sharded-model';
import { runJsonChild } from './bench/json-child';
import { intOption } from './options';

const GB = 1024 ** 3;
const gb = (bytes: number) => Number((bytes / GB).toFixed(2));
const trainConfig = (modelDir: string, steps: number, seq: number): TrainConfig =>
  TrainConfigSchema.parse({
    model: modelDir,
    mode: 'lora',
    steps,
    warmupSteps: 1,
    batch: 1,
    seq,
    evalEvery: steps,
    evalBatches: 1,
    checkpointEvery: steps,
    lr: 1e-3,
    minLr: 1e-4,
    lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  });

interface PhaseOptions {
  dir: string;
  steps: number;
  seq: number;
  tokens: number;
}

/** One phase, in its own process so that its peak memory is its own. Prints one JSON line. */
async function runPhase(phase: string, o: PhaseOptions): Promise<void> {
  const started = process.hrtime.bigint();
  const seconds = () => Number((Number(process.hrtime.bigint() - started) / 1e9).toFixed(1));
  const modelDir = path.join(o.dir, 'model');
  const store = new LocalArtifactStore(path.join(o.dir, 'store'));
  const config = trainConfig(modelDir, o.steps, o.seq);
  let result: Record<string, unknown> = {};
  if (phase === 'create') {
    const r = await writeShardedBf16Model(modelDir, NEMO_2_LAYERS, 4);
    result = { parameters: r.parameters, weightsGB: gb(r.bytes), shards: 4 };
  } else if (phase === 'artifacts') {
    const r = await generateTrainingArtifacts(store, artifactSpecOf(config, modelDir));
    result = { files: Object.fromEntries(Object.entries(r.files).map(([name, f]) => [name, gb(f.bytes)])), cacheHit: r.cacheHit };
  } else if (phase === 'train') {
    const shard = async (name: string, split: string, from: number, n: number) => {
      const text = Array.from(
        { length: n },
        (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 5, crisisShare: 0.2, piiShare: 0 }), id: `${name}-${i}` })}\n`,
      ).join('');
      return { split, kind: 'source', ...(await store.writeText(`data/${name}`, text)), records: n };
    };
    const manifest = await store.writeText(
      'data/manifest.json',
      JSON.stringify({ kind: 'augmented-dataset', shards: [await shard('train.jsonl', 'train', 0, 16), await shard('val.jsonl', 'val', 500, 4)] }),
    );
    const trained = await fineTune({
      store,
      config,
      dataManifestUri: manifest.uri,
      runId: 'bench-large-model',
      executionProvider: 'cpu',
      onProgress: () => undefined,
    });
    const curve = JSON.parse(await store.readText(trained.lossCurveUri)) as { losses: { step: number; loss: number }[] };
    result = {
      steps: trained.steps,
      losses: curve.losses.map((l) => Number(l.loss.toFixed(4))),
      baseValLoss: trained.baseValLoss,
      bestValLoss: trained.bestValLoss,
      checkpointUri: trained.lastCheckpointUri ?? null,
      exported: trained.modelUri ? await store.localPath(trained.modelUri, { folder: true }) : null,
    };
  } else if (phase === 'generate') {
    const exported = JSON.parse(readFileSync(path.join(o.dir, 'exported.json'), 'utf8')) as { dir: string };
    const m = await openModel(exported.dir, ['cpu'], { cache: 'fused' });
    const opened = seconds();
    const sampling = SamplingConfigSchema.parse({ maxNewTokens: o.tokens, temperature: 0, repetitionPenalty: 1, batch: 1 });
    const stepTimes: number[] = [];
    const t0 = process.hrtime.bigint();
    const [r] = await generateResponses(
      m,
      [{ id: 'p', messages: [{ role: 'user', content: 'I have been feeling anxious at work lately.' }] }],
      sampling,
      undefined,
      undefined,
      () => stepTimes.push(Number(process.hrtime.bigint() - t0) / 1e9),
    );
    await m.session.release();
    const decode = stepTimes.length > 1 ? (stepTimes.length - 1) / ((stepTimes[stepTimes.length - 1] as number) - (stepTimes[0] as number)) : 0;
    result = {
      openSeconds: opened,
      tokens: r?.tokens ?? 0,
      timeToFirstTokenMs: Math.round((stepTimes[0] ?? 0) * 1000),
      decodeTokensPerSecond: Number(decode.toFixed(2)),
    };
  } else throw new Error(`--phase must be create, artifacts, train or generate`);
  console.log(JSON.stringify({ phase, seconds: seconds(), peakRssGB: gb(process.resourceUsage().maxRSS * 1024), ...result }));
}

function child(phase: string, o: PhaseOptions): Promise<Record<string, unknown>> {
  const args = [path.join(__dirname, '..', 'bin', 'pixel.js'), 'bench', 'large-model', '--phase', phase, '--dir', o.dir];
  args.push('--steps', String(o.steps), '--seq', String(o.seq), '--tokens', String(o.tokens));
  return runJsonChild(`phase ${phase}`, process.execPath, args);
}

export function registerBenchLargeModelCommand(bench: Command): void {
  bench
    .command('large-model')
    .description(
      'A Mistral-Nemo-wide model with 2 layers (1.9B parameters, sharded bf16) through artifacts, LoRA steps, checkpoint, merge/export and greedy generation, each phase in its own process with its peak memory; prints JSON',
    )
    .option('--steps <n>', 'LoRA steps', intOption('--steps', 1), 3)
    .option('--seq <n>', 'tokens per training sequence', intOption('--seq', 8), 32)
    .option('--tokens <n>', 'tokens to generate', intOption('--tokens', 1), 8)
    .option('--dir <dir>', 'work folder (kept); default a temporary folder, removed afterwards')
    .option('--phase <name>', 'run one phase in this process (used by the benchmark itself)')
    .action(async (opts: { steps: number; seq: number; tokens: number; dir?: string; phase?: string }) => {
      if (opts.phase) {
        if (!opts.dir) throw new Error('--phase needs --dir');
        await runPhase(opts.phase, { dir: path.resolve(opts.dir), steps: opts.steps, seq: opts.seq, tokens: opts.tokens });
        return;
      }
      const dir = opts.dir ? path.resolve(opts.dir) : mkdtempSync(path.join(tmpdir(), 'pixel-large-model-'));
      const o = { dir, steps: opts.steps, seq: opts.seq, tokens: opts.tokens };
      const log = (m: string) => console.error(`[bench:large-model] ${m}`);
      try {
        const phases: Record<string, Record<string, unknown>> = {};
        for (const phase of ['create', 'artifacts', 'train', 'generate']) {
          log(`${phase} ...`);
          phases[phase] = await child(phase, o);
          log(JSON.stringify(phases[phase]));
          if (phase === 'train') {
            if (!phases.train?.exported) throw new Error('training exported no model');
            await writeFile(path.join(dir, 'exported.json'), JSON.stringify({ dir: phases.train.exported }));
          }
        }
        console.log(JSON.stringify({ model: 'Mistral-Nemo width, 2 layers (bf16 shards)', machineMemoryGB: gb(totalmem()), ...o, phases }, null, 2));
      } finally {
        if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      }
    });
}
