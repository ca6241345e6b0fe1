import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { generateConversation } from '../data/synthetic/generator';
import { buildEval, buildTrainStep, type TrainStepSpec } from './artifacts/train-step';
import { loadTrainState, saveTrainState } from './checkpoint';
import { BatchStream, type Batch } from './data/batches';
import { tokenizeConversation, toRow, type ChatTokenizer } from './data/chat-tokens';
import { toOnnx } from './graph/onnx-writer';
import { createDefaultModel } from './model/default-model';
import { loadModelFolder } from './model/folder';
import { loadTokenizer } from './tokenizer/load';
import { earlyStopping, learningRate } from './schedule';
import { NonFiniteLossError, train, type TrainState, type TrainerOptions } from './trainer';

describe('learningRate', () => {
  const s = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-4 };
  it.each([
    [1, 1e-4],
    [5, 5e-4],
    [10, 1e-3],
    [60, 1e-4 + 0.9e-3 * 0.5],
    [110, 1e-4],
    [500, 1e-4],
  ])('step %i -> %f', (step, expected) => expect(learningRate(step, s)).toBeCloseTo(expected, 12));
  it('refuses step 0', () => expect(() => learningRate(0, s)).toThrow(/step 0/));
});

describe('earlyStopping', () => {
  it('counts evaluations without an improvement larger than minDelta', () => {
    let st = { best: Infinity, sinceBest: 0 };
    const seen = [2, 1.5, 1.49, 1.6, 1.2].map((v) => {
      const r = earlyStopping(st, v, 2, 0.05);
      st = { best: r.best, sinceBest: r.sinceBest };
      return [r.improved, r.stop];
    });
    expect(seen).toEqual([
      [true, false],
      [true, false],
      [false, false],
      [false, true],
      [true, false],
    ]);
  });
});

describe('train', () => {
  const t = tempDir('pixel-trainer-');
  let tokenizer: ChatTokenizer & { convert_tokens_to_ids: (t: string) => number };
  let base: Awaited<ReturnType<typeof loadModelFolder>>;
  let files: string[];
  let valFile: string;
  const spec = (): TrainStepSpec => ({ dims: base.dims, batch: 2, seq: 48, dtype: 'float32', mode: 'full' });

  beforeAll(async () => {
    const model = path.join(t.dir, 'model');
    await createDefaultModel(model, 'tiny', 3);
    base = await loadModelFolder(model);
    tokenizer = await loadTokenizer(model);
    const shard = (name: string, from: number, n: number) => {
      const file = path.join(t.dir, name);
      writeFileSync(
        file,
        Array.from({ length: n }, (_, i) =>
          JSON.stringify({ ...generateConversation(from + i, { seed: 5, crisisShare: 0.2, piiShare: 0 }), id: `${name}-${i}` }),
        ).join('\n') + '\n',
      );
      return file;
    };
    files = [shard('train-0.jsonl', 0, 20), shard('train-1.jsonl', 100, 20)];
    valFile = shard('val.jsonl', 500, 4);
  });
  afterAll(() => t.cleanup());

  it('marks only the assistant tokens and reproduces the whole-text tokenisation', () => {
    const messages = [
      { role: 'user' as const, content: 'I feel tense all day.' },
      { role: 'assistant' as const, content: 'It sounds like you have been on edge.' },
    ];
    const tok = tokenizeConversation(tokenizer, messages);
    const whole = tokenizer.encode(
      '<|im_start|>user\nI feel tense all day.<|im_end|>\n<|im_start|>assistant\nIt sounds like you have been on edge.<|im_end|>\n',
      { add_special_tokens: false },
    );
    expect(tok.ids).toEqual(whole);
    const reply = tokenizer.encode('It sounds like you have been on edge.<|im_end|>', { add_special_tokens: false });
    expect(tok.assistant.filter((x) => x === 1)).toHaveLength(reply.length);
    const learned = tok.ids.filter((_, i) => tok.assistant[i] === 1);
    expect(learned).toEqual(reply);
    const row = toRow(tok, 8, 0);
    expect(row.input).toHaveLength(8);
    expect(row.mask.every((m) => m === 0)).toBe(true); // the reply starts after token 8
  });

  /** The trainer state a checkpoint holds, to resume from. */
  const resumeFrom = async (file: string): Promise<TrainState> => {
    const l = await loadTrainState<TrainState['cursor']>(file);
    return { step: l.step, params: l.params, cursor: l.cursor, bestValLoss: l.bestValLoss, bestStep: l.bestStep, sinceBest: l.sinceBest };
  };

  async function options(
    extra: Partial<TrainerOptions> & { checkpoints: string[] },
    specExtra: Partial<TrainStepSpec> = {},
  ): Promise<TrainerOptions> {
    const s = { ...spec(), ...specExtra };
    const step = buildTrainStep(s);
    const evaluation = buildEval(s);
    const padId = tokenizer.convert_tokens_to_ids('<|endoftext|>');
    const valStream = new BatchStream([valFile], tokenizer, { batch: 2, seq: 48, padId, seed: 1, crisisWeight: 2 });
    const validation: Batch[] = [await valStream.next()];
    const shapes = new Map(step.manifest.trainable.map((x) => [x.name, x.shape]));
    return {
      trainStep: { model: toOnnx(step.graph), manifest: step.manifest },
      evaluation: { model: toOnnx(evaluation.graph), manifest: evaluation.manifest },
      init: new Map([...base.weights].map(([name, tt]) => [name, tt.data as Float32Array])),
      data: new BatchStream(files, tokenizer, { batch: 2, seq: 48, padId, seed: 9, crisisWeight: 2 }, extra.resume?.cursor),
      validation,
      schedule: { lr: 3e-3, warmupSteps: 4, totalSteps: 24, minLr: 3e-4 },
      evalEvery: 6,
      checkpointEvery: 0,
      patience: 0,
      minDelta: 0,
      threads: 1,
      checkpoint: async (state: TrainState) => {
        const file = path.join(t.dir, `ckpt-${state.step}-${extra.checkpoints.length}.safetensors`);
        await saveTrainState(file, state, shapes, step.manifest.specHash, { lr: 3e-3 });
        extra.checkpoints.push(file);
        return file;
      },
      ...extra,
    };
  }

  it('a run resumed from a checkpoint repeats the uninterrupted run exactly', async () => {
    const whole = await train(await options({ checkpoints: [] }));
    expect(whole.losses).toHaveLength(24);
    expect(whole.stoppedBy).toBe('steps');
    expect(whole.valLosses.map((v) => v.step)).toEqual([0, 6, 12, 18, 24]);
    // The loss falls on this data.
    expect(whole.losses.slice(-4).reduce((a, x) => a + x.loss, 0)).toBeLessThan(whole.losses.slice(0, 4).reduce((a, x) => a + x.loss, 0));

    const saved: string[] = [];
    const first = await train(
      await options({ checkpoints: saved, checkpointEvery: 10, stopRequested: () => saved.some((f) => f.includes('ckpt-10-')) }),
    );
    expect(first.stoppedBy).toBe('stop_requested');
    expect(first.state.step).toBe(10);
    const resumeState = await resumeFrom(saved.find((f) => f.includes('ckpt-10-'))!);
    expect(resumeState.step).toBe(10);
    const rest = await train(await options({ checkpoints: [], resume: resumeState }));
    expect([...first.losses, ...rest.losses]).toEqual(whole.losses);
    expect(rest.valLosses).toEqual(whole.valLosses.filter((v) => v.step > 10));
  }, 120_000);

  it('AdamW on the host (the default) trains as AdamW in the graph does, and their checkpoints resume each other', async () => {
    // Strong decay and a low clipping bound, so that each term of the update shows in the comparison.
    const adamw = { beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.5, maxGradNorm: 0.5 };
    const hostRun = await train(await options({ checkpoints: [] }, { adamw }));
    expect(buildTrainStep(spec()).manifest.optimizer?.placement).toBe('host');
    const graphRun = await train(await options({ checkpoints: [] }, { adamw, optimizer: 'graph' }));
    expect(hostRun.losses).toHaveLength(24);
    // The same formula in float32, its scalars rounded alike: only the order of a few roundings differs.
    hostRun.losses.forEach((l, i) => expect(Math.abs(l.loss - (graphRun.losses[i]?.loss ?? NaN))).toBeLessThan(1e-4 * l.loss));
    let worst = 0;
    for (const [name, p] of hostRun.state.params) {
      const q = graphRun.state.params.get(name)!;
      for (let i = 0; i < p.value.length; i++) worst = Math.max(worst, Math.abs(p.value[i]! - q.value[i]!));
    }
    expect(worst).toBeLessThan(1e-4);
    // A graph-optimizer checkpoint resumed by the host optimizer continues that run.
    const saved: string[] = [];
    await train(await options({ checkpoints: saved, checkpointEvery: 10, stopRequested: () => saved.length > 0 }, { adamw, optimizer: 'graph' }));
    const resume = await resumeFrom(saved[0]!);
    const resumedAt = resume.step; // the trainer carries the state it is given forward
    const rest = await train(await options({ checkpoints: [], resume }, { adamw }));
    expect(rest.losses[0]?.step).toBe(resumedAt + 1);
    rest.losses.forEach((l) => expect(Math.abs(l.loss - graphRun.losses[l.step - 1]!.loss)).toBeLessThan(1e-4 * l.loss));
  }, 120_000);

  it('pauses at a rung with a checkpoint and its validation loss; the segments add up to the uninterrupted run', async () => {
    const whole = await train(await options({ checkpoints: [] }));
    // Rungs at 3 and 9 (not evaluation steps): each pause evaluates and checkpoints there.
    const a = await train(await options({ checkpoints: [], untilStep: 3 }));
    expect(a.stoppedBy).toBe('paused');
    expect(a.state.step).toBe(3);
    expect(a.valLosses.map((v) => v.step)).toEqual([0, 3]);
    expect(a.lastCheckpoint).toMatch(/ckpt-3-/);
    const b = await train(
      await options({ checkpoints: [], untilStep: 9, resume: await resumeFrom(a.lastCheckpoint!), bestCheckpoint: a.bestCheckpoint! }),
    );
    expect(b.stoppedBy).toBe('paused');
    expect(b.valLosses.map((v) => v.step)).toEqual([6, 9]);
    const c = await train(
      await options({ checkpoints: [], untilStep: 24, resume: await resumeFrom(b.lastCheckpoint!), bestCheckpoint: b.bestCheckpoint! }),
    );
    expect(c.stoppedBy).toBe('steps');
    expect(c.valLosses.map((v) => v.step)).toEqual([12, 18, 24]);
    // Same schedule, same data, same losses: pausing changes nothing but where the run stops.
    expect([...a.losses, ...b.losses, ...c.losses]).toEqual(whole.losses);
    // An extra evaluation does not disturb training; at shared steps the losses agree.
    expect([...a.valLosses, ...b.valLosses, ...c.valLosses].filter((v) => v.step % 6 === 0)).toEqual(whole.valLosses);
    // The best checkpoint carried in from an earlier segment stays the best unless beaten.
    expect(c.bestCheckpoint).toBeDefined();
    expect(c.state.bestStep).toBe(whole.state.bestStep);

    // Resumed from its own pause point (the attempt before ended after checkpointing): measures it and pauses again.
    const again = await train(await options({ checkpoints: [], untilStep: 3, resume: await resumeFrom(a.lastCheckpoint!) }));
    expect(again.stoppedBy).toBe('paused');
    expect(again.losses).toHaveLength(0);
    expect(again.valLosses).toEqual([{ step: 3, loss: a.valLosses[1]!.loss }]);
  }, 180_000);

  it('stops early when validation stops improving, keeping the best checkpoint', async () => {
    const result = await train(await options({ checkpoints: [], patience: 1, minDelta: 1e9 }));
    expect(result.stoppedBy).toBe('early_stop');
    expect(result.state.step).toBe(12);
    expect(result.state.bestStep).toBe(6);
    expect(result.bestCheckpoint).toMatch(/ckpt-6-/);
  }, 60_000);

  it('on cancellation, checkpoints where it is and stops', async () => {
    const controller = new AbortController();
    const saved: string[] = [];
    const o = await options({ checkpoints: saved });
    const result = await train({ ...o, signal: controller.signal, onStep: (p) => p.step === 7 && controller.abort() });
    expect(result.stoppedBy).toBe('cancelled');
    expect(result.state.step).toBe(7);
    expect(result.lastCheckpoint).toMatch(/ckpt-7-/);
    expect((await loadTrainState(result.lastCheckpoint!)).step).toBe(7);
  });

  it('falls back to the CPU, and says so, when the CUDA provider cannot be loaded', async () => {
    const said: string[] = [];
    const o = await options({ checkpoints: [] });
    const result = await train({
      ...o,
      executionProviders: ['cuda', 'cpu'],
      schedule: { ...o.schedule, totalSteps: 2 },
      evalEvery: 0,
      onFallback: (m) => said.push(m),
    });
    expect(result.state.step).toBe(2);
    // On a machine with CUDA this run simply used it; here it cannot.
    if (!existsSync('/usr/lib/x86_64-linux-gnu/libcuda.so.1'))
      expect(said.join()).toMatch(/CUDA execution provider failed to load .*training on the CPU/);
  });

  it('fails on a non-finite loss, naming the step and the last good checkpoint', async () => {
    const o = await options({ checkpoints: [] });
    const poisoned = new Map(o.init);
    poisoned.set('model.norm.weight', new Float32Array(base.dims.hidden).fill(NaN));
    const err: unknown = await train({ ...o, init: poisoned }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as NonFiniteLossError).step).toBe(1);
    expect((err as Error).message).toMatch(/not finite at step 1; last good checkpoint: none/);
  });
});
