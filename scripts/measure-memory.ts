/**
 * Measures the memory a training run and a generation run really take on the CPU, the figures
 * `planMemory` (shared/training/model/memory-plan.ts) is checked against in its test.
 *
 *   node --expose-gc --require tsx/cjs scripts/measure-memory.ts [--case NAME ...] [--steps N]
 *
 * Per case, in child processes of their own (so one case's heap and allocator state never
 * colour the next):
 * 1. `prepare`: a random model folder (createRandomModel, float32 safetensors, a small tokenizer)
 *    and its training artifacts exactly as the fine-tune stage generates them
 *    (generateTrainingArtifacts with artifactSpecOf of a TrainConfig of that mode, batch, seq).
 * 2. `train`: what the training thread does (shared/training/train-thread.ts): the tokenizer,
 *    the trainable weights read from the folder (full mode), LoRA's adapters, then `train()`
 *    (both sessions open, the base model's evaluation, 6 steps, an evaluation every 2) on
 *    synthetic batches.
 * 3. `generate` (cases with `generation`): what evaluation does (openModel, then a batch decoded
 *    with the KV cache, as generateResponses does).
 * Each child reports its baseline RSS (after its imports and a GC, before it loads anything),
 * its peak RSS (VmHWM of /proc/self/status, reset after the baseline) and the difference.
 * Prints one JSON object: per case `training.deltaMb` (and `generation.deltaMb`) are the figures
 * of the MEASURED table in memory-plan.test.ts; `phasesMb` shows where the peak was reached.
 * Each case stays under about 2 GB of RSS; all of them take about 2 minutes on 2 cores.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { LocalArtifactStore } from '../shared/artifacts';
import { TrainConfigSchema } from '../shared/contracts/fine-tune';
import { ArtifactManifestSchema } from '../shared/training/artifacts/train-step';
import { generateTrainingArtifacts, usesSharedWeightsFile } from '../shared/training/artifacts/generate';
import type { BatchStream } from '../shared/training/data/batches';
import { int64, KvCache, openModel } from '../shared/evaluation/generation/engine';
import { artifactSpecOf } from '../shared/training/fine-tune-spec';
import { MEMORY_CASES as CASES, type MeasureCase } from '../shared/training/model/memory-cases';
import { initializerData } from '../shared/training/graph/ir';
import { createRandomModel, openModelFolder } from '../shared/training/model/folder';
import { tokenizerFiles, trainBpe } from '../shared/training/tokenizer/bpe';
import { loadTokenizer } from '../shared/training/tokenizer/load';
import { train } from '../shared/training/trainer';

/** Resident and peak resident bytes of this process. */
function memory(): { rss: number; hwm: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Starts a new peak: VmHWM drops to the current RSS (Linux; `5` in clear_refs). */
function resetPeak(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const THREADS = 2;

interface ChildResult {
  baseline: number;
  peak: number;
  delta: number;
  phases: Record<string, number>;
}

async function childPrepare(c: MeasureCase, dir: string): Promise<{ modelDir: string; files: Record<string, string> }> {
  const modelDir = path.join(dir, 'model');
  await createRandomModel(modelDir, c.config, 1);
  // A small byte-level tokenizer (the model's vocabulary is larger; openModel needs only the file).
  const { tokenizer, config } = tokenizerFiles(trainBpe('how are you feeling today? I hear you, and I am here to listen.', 300), 1024);
  await writeFile(path.join(modelDir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(path.join(modelDir, 'tokenizer_config.json'), JSON.stringify(config));
  const trainConfig = TrainConfigSchema.parse({
    model: modelDir,
    mode: c.mode,
    batch: c.batch,
    seq: c.seq,
    steps: 100,
    warmupSteps: 1,
    ...(c.lora ? { lora: c.lora } : {}),
  });
  const result = await generateTrainingArtifacts(new LocalArtifactStore(path.join(dir, 'store')), artifactSpecOf(trainConfig, modelDir));
  const files = Object.fromEntries(Object.entries(result.files).map(([name, ref]) => [name, fileURLToPath(ref.uri)]));
  return { modelDir, files };
}

/** Synthetic batches: token ids spread over the vocabulary, every token in the loss. */
function syntheticStream(batch: number, seq: number, vocab: number): BatchStream {
  let n = 0;
  const next = () => {
    n += 1;
    const input = Array.from({ length: batch * seq }, (_, i) => (i * 7919 + n * 104_729) % vocab);
    return Promise.resolve({
      input,
      target: input.map((t) => (t + 1) % vocab),
      mask: input.map(() => 1),
      exampleWeight: Array.from({ length: batch }, () => 1),
      negative: Array.from({ length: batch }, () => 0),
      ids: Array.from({ length: batch }, (_, i) => `s${n}-${i}`),
    });
  };
  return { next, cursor: () => ({ epoch: 0, file: 0, line: n }) } as unknown as BatchStream;
}

async function childTrain(c: MeasureCase, prepared: { modelDir: string; files: Record<string, string> }, steps: number): Promise<ChildResult> {
  const graph = (name: string) => ({
    model: prepared.files[`${name}.onnx`] as string,
    manifest: ArtifactManifestSchema.parse(JSON.parse(readFileSync(prepared.files[`${name}.json`] as string, 'utf8'))),
  });
  const trainStep = graph(`train-step-${c.mode}`);
  const evaluation = graph(`eval-${c.mode}`);
  collect();
  const baseline = memory().rss;
  resetPeak();
  const phases: Record<string, number> = {};
  // As the training thread: the tokenizer, the trainable weights read from the folder (full mode:
  // all; LoRA: none of the base, which the graphs hold), LoRA's adapters initialised.
  const tokenizer = await loadTokenizer(prepared.modelDir);
  const base = await openModelFolder(prepared.modelDir);
  const init = new Map<string, Float32Array>();
  for (const { name, shape } of trainStep.manifest.trainable) {
    const n = shape.reduce((a, b) => a * b, 1);
    const weight = base.weights.get(name);
    init.set(
      name,
      weight
        ? (initializerData(weight) as Float32Array)
        : Float32Array.from({ length: n }, (_, i) => (name.endsWith('.lora_A') ? ((i % 7) - 3) * 0.01 : 0)),
    );
  }
  phases.loaded = memory().rss - baseline;
  const stream = syntheticStream(c.batch, c.seq, base.dims.vocab);
  const validation = [await syntheticStream(c.batch, c.seq, base.dims.vocab).next()];
  await train({
    trainStep,
    evaluation,
    init,
    data: stream,
    validation,
    schedule: { lr: 1e-4, warmupSteps: 1, totalSteps: steps, minLr: 1e-5 },
    evalEvery: 2,
    checkpointEvery: 0,
    patience: 0,
    minDelta: 0,
    threads: THREADS,
    prepackWeights: !usesSharedWeightsFile(prepared.files, c.mode),
    checkpoint: () => Promise.resolve(''),
    onStep: (s) => {
      phases[`step${s.step}`] = memory().hwm - baseline;
    },
  });
  phases.baseTensors = base.weights.size;
  phases.tokenizerVocab = Object.keys(tokenizer.get_vocab()).length;
  const peak = memory().hwm;
  return { baseline, peak, delta: peak - baseline, phases };
}

async function childGenerate(c: MeasureCase, prepared: { modelDir: string }): Promise<ChildResult> {
  const gen = c.generation;
  if (!gen) throw new Error(`${c.name} has no generation`);
  collect();
  const baseline = memory().rss;
  resetPeak();
  const phases: Record<string, number> = {};
  const m = await openModel(prepared.modelDir, ['cpu'], { threads: THREADS });
  phases.opened = memory().hwm - baseline;
  // As generateResponses: one batch, left-padded prompts of `prompt` tokens, the cache for all of it.
  const B = gen.batch;
  const width = gen.prompt;
  const cache = new KvCache(m, B, width + gen.maxNewTokens, width + KvCache.GROWTH);
  const ids = Array.from({ length: B * width }, (_, i) => (i * 7919) % m.dims.vocab);
  const mask = ids.map(() => 1);
  let feeds: Record<string, ort.Tensor> = {
    input_ids: int64(ids, [B, width]),
    attention_mask: int64(mask, [B, width]),
    position_ids: int64(
      ids.map((_, i) => i % width),
      [B, width],
    ),
    logits_to_keep: int64([1], []),
    ...cache.feeds(),
  };
  let total = width;
  for (let step = 0; step < gen.maxNewTokens; step++) {
    const result = await m.session.run(feeds);
    if (step === 0) phases.prefill = memory().hwm - baseline;
    cache.append(result);
    total += 1;
    feeds = {
      input_ids: int64(
        Array.from({ length: B }, (_, b) => (b + step) % m.dims.vocab),
        [B, 1],
      ),
      attention_mask: int64(
        Array.from({ length: B * total }, () => 1),
        [B, total],
      ),
      position_ids: int64(
        Array.from({ length: B }, () => total - 1),
        [B, 1],
      ),
      logits_to_keep: int64([1], []),
      ...cache.feeds(),
    };
  }
  await m.session.release();
  const peak = memory().hwm;
  return { baseline, peak, delta: peak - baseline, phases };
}

const execFileAsync = promisify(execFile);

/** Runs this file in a fresh node with one job; returns what it printed (JSON). */
async function child<T>(job: unknown): Promise<T> {
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', '--require', 'tsx/cjs', __filename, '--child', JSON.stringify(job)], {
    cwd: path.resolve(__dirname, '..'),
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as T;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round(bytes / MB);

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--child');
  if (at >= 0) {
    const job = JSON.parse(argv[at + 1] as string) as {
      kind: 'prepare' | 'train' | 'generate';
      case: MeasureCase;
      dir: string;
      prepared?: { modelDir: string; files: Record<string, string> };
      steps: number;
    };
    const out =
      job.kind === 'prepare'
        ? await childPrepare(job.case, job.dir)
        : job.kind === 'train'
          ? await childTrain(job.case, job.prepared!, job.steps)
          : await childGenerate(job.case, job.prepared!);
    process.stdout.write(JSON.stringify(out));
    return;
  }
  const only = argv.flatMap((a, i) => (argv[i - 1] === '--case' ? [a] : []));
  const stepsAt = argv.indexOf('--steps');
  const steps = stepsAt >= 0 ? Number(argv[stepsAt + 1]) : 6;
  const cases = only.length > 0 ? CASES.filter((c) => only.includes(c.name)) : CASES;
  if (cases.length === 0) throw new Error(`no case named ${only.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  const results: unknown[] = [];
  for (const c of cases) {
    const dir = await mkdtemp(path.join(tmpdir(), 'pixel-measure-'));
    try {
      console.error(`${c.name}: preparing ...`);
      const prepared = await child<{ modelDir: string; files: Record<string, string> }>({ kind: 'prepare', case: c, dir, steps });
      console.error(`${c.name}: training ${steps} steps ...`);
      const trained = await child<ChildResult>({ kind: 'train', case: c, dir, prepared, steps });
      console.error(`${c.name}: training peak ${mb(trained.delta)} MB over a ${mb(trained.baseline)} MB baseline`);
      let generated: ChildResult | undefined;
      if (c.generation) {
        generated = await child<ChildResult>({ kind: 'generate', case: c, dir, prepared, steps });
        console.error(`${c.name}: generation peak ${mb(generated.delta)} MB over a ${mb(generated.baseline)} MB baseline`);
      }
      results.push({
        case: c.name,
        mode: c.mode,
        batch: c.batch,
        seq: c.seq,
        ...(c.holdout ? { holdout: true } : {}),
        training: { baselineMb: mb(trained.baseline), peakMb: mb(trained.peak), deltaMb: mb(trained.delta), phasesMb: mapMb(trained.phases) },
        ...(generated
          ? {
              generation: {
                ...c.generation,
                baselineMb: mb(generated.baseline),
                peakMb: mb(generated.peak),
                deltaMb: mb(generated.delta),
                phasesMb: mapMb(generated.phases),
              },
            }
          : {}),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log(
    JSON.stringify(
      {
        measured: new Date().toISOString().slice(0, 10),
        node: process.version,
        onnxruntime: ort.env.versions.common,
        threads: THREADS,
        steps,
        results,
      },
      null,
      2,
    ),
  );
}

function mapMb(phases: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, k === 'baseTensors' || k === 'tokenizerVocab' ? v : mb(v)]));
}

if (require.main === module)
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`measure-memory: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
