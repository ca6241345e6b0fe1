import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { modelDims } from './config';
import { MODEL_PRESETS } from './default-model';
import {
  RUNTIME_BYTES,
  fineTuneMemoryDecision,
  formatBytes,
  parseDevice,
  planMemory,
  readModelConfig,
  type DeviceSpec,
  type LoraTarget,
  type MemoryPlan,
} from './memory-plan';
import { MEMORY_CASES, VOCAB_131K, type MeasureCase } from './memory-cases';
import { MISTRAL_NEMO_12B, NEMO_2_LAYERS } from './sharded-model';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const cpu = (gib = 1000): DeviceSpec => parseDevice(`cpu:${gib}GB`);
const item = (plan: MemoryPlan, key: string, part: 'training' | 'generation' = 'training') =>
  plan[part]?.items.find((i) => i.key === key)?.bytes ?? 0;

interface Measured extends MeasureCase {
  /** Peak RSS minus the baseline before anything was loaded (MiB): the real trainer, 6 steps, an evaluation every 2. */
  trainingMiB: number;
  /** The same for generation (openModel, one batch decoded with the KV cache). */
  generationMiB?: number;
}

/**
 * Measured with `node --expose-gc --require tsx/cjs scripts/measure-memory.ts` on 2026-12-06
 * (node 20.20.2, onnxruntime-node 1.30.0, CPU provider, 2 threads; a 2-core, 24 GB machine),
 * generator 5: RMSNorm, SiLU and the rotary embedding as onnxruntime kernels with backward passes
 * that keep less (no x / rms, no sigmoid(gate)), weight gradients as plain products of a
 * transposed copy. Against generator 4 (2026-12-05): full fine-tuning's peaks fell by 5-12%
 * (llama-13.7m-full 1061 -> 933 MiB), LoRA's by up to 9%, except vocab-131k-full, which rose
 * 1248 -> 1317 (its peak is the logits'). Each training figure is the higher of two runs that
 * day, which were within 9 MiB (6%) of each other; baselines were 104 to 107 MiB. Generation's
 * graphs did not change (onnxruntime already fused x * sigmoid(x) into QuickGelu): each of its
 * figures is the highest of three runs (2026-12-05 and twice on 2026-12-06, 498 to 514 MiB).
 * The measuring children load a 300-token tokenizer, so the plan is given that vocabulary for it.
 * Shapes: MEMORY_CASES (memory-cases.ts), the ones the script measures.
 */
const FIGURES: Record<string, { trainingMiB: number; generationMiB?: number }> = {
  'random-small-full': { trainingMiB: 336 },
  'random-small-lora': { trainingMiB: 257 },
  'llama-13.7m-full': { trainingMiB: 933 },
  'llama-13.7m-lora': { trainingMiB: 773, generationMiB: 514 },
  'vocab-131k-full': { trainingMiB: 1317 },
  'vocab-131k-lora': { trainingMiB: 1403, generationMiB: 504 },
  'vocab-64k-untied-lora': { trainingMiB: 775 },
  'gqa-long-full': { trainingMiB: 540 },
  'gqa-long-lora': { trainingMiB: 460 },
  'random-tiny-full': { trainingMiB: 67 },
  'random-tiny-lora': { trainingMiB: 64 },
  'qwen2-qv-lora': { trainingMiB: 577, generationMiB: 421 },
  'qwen2-full': { trainingMiB: 563 },
  'qwen3-lora': { trainingMiB: 677 },
  'vocab-131k-lora-b4': { trainingMiB: 1396 },
  'vocab-131k-wide-tied-lora': { trainingMiB: 953 },
};
const MEASURED: Measured[] = MEMORY_CASES.map((c) => {
  const figures = FIGURES[c.name];
  if (!figures) throw new Error(`no measured figures for the case ${c.name}`);
  return { ...c, ...figures };
});

const planOf = (m: Measured) =>
  planMemory(modelDims(m.config), {
    mode: m.mode,
    batch: m.batch,
    seq: m.seq,
    ...(m.lora ? { lora: m.lora } : {}),
    device: cpu(),
    tokenizerVocab: 300,
    ...(m.generation ? { generation: { batch: m.generation.batch, promptTokens: m.generation.prompt, maxTokens: m.generation.maxNewTokens } } : {}),
  });

describe('planMemory against measured peaks (CPU)', () => {
  // Within 30% either way, and never more than 15% under: underestimating is what lets a run start and die.
  const within = (planned: number, measured: number) => {
    const ratio = planned / measured;
    expect(ratio).toBeGreaterThanOrEqual(0.85);
    expect(ratio).toBeLessThanOrEqual(1.3);
  };

  it.each(MEASURED.map((m) => [m.name, m] as const))('training %s', (_, m) => {
    within((planOf(m).training.bytes - RUNTIME_BYTES) / MiB, m.trainingMiB);
  });

  it.each(MEASURED.filter((m) => m.generation).map((m) => [m.name, m] as const))('generation %s', (_, m) => {
    within(((planOf(m).generation?.bytes ?? 0) - RUNTIME_BYTES) / MiB, m.generationMiB ?? NaN);
  });

  it('matches what bench:large-model reported for a Nemo-wide 2-layer model (1.89B parameters, bf16 shards)', () => {
    // LoRA on q, k, v, o at batch 1 x seq 32, peak RSS 9.67 GiB (the training phase, with its
    // checkpoint and export; frozen weights mapped, not packed); greedy generation with fused
    // attention 8.25 GiB. Measured 2026-12-05 (16.5 GiB for training before the frozen weights
    // were read in place: W, its folded transpose and packed copies).
    const plan = planMemory(modelDims(NEMO_2_LAYERS), {
      mode: 'lora',
      batch: 1,
      seq: 32,
      lora: { rank: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
      storedDtype: 'bfloat16',
      device: cpu(),
      generation: { batch: 1, maxTokens: 8, promptTokens: 40 },
    });
    within(plan.training.bytes / GiB, 9.67);
    within((plan.generation?.bytes ?? 0) / GiB, 8.25);
  });

  it('has cases the constants were not fitted to, for every mode', () => {
    expect(MEASURED.filter((m) => m.holdout).map((m) => m.mode)).toEqual(expect.arrayContaining(['full', 'lora']));
  });
});

describe('planMemory terms', () => {
  const nemo = modelDims(MISTRAL_NEMO_12B);

  it('sizes the KV cache as 2 x layers x kvHeads x headDim x tokens x batch x 4 bytes', () => {
    const plan = planMemory(nemo, { mode: 'lora', batch: 1, seq: 100, device: parseDevice('cuda:80GB'), generation: { batch: 3, maxTokens: 28 } });
    expect(item(plan, 'kvCache', 'generation')).toBe(2 * 40 * 8 * 128 * (100 + 28) * 3 * 4);
    expect(plan.generation?.promptTokens).toBe(100);
  });

  it('counts the logits [batch, seq, vocab] four times in a train step, and the attention probabilities per layer', () => {
    const plan = planMemory(nemo, { mode: 'lora', batch: 2, seq: 64, device: cpu() });
    expect(item(plan, 'logits')).toBe(4 * 2 * 64 * 131_072 * 4);
    // One [batch, heads, seq, seq] per layer, and two more in the layer whose backward pass is running.
    expect(item(plan, 'attentionScores')).toBe((40 + 2) * 2 * 32 * 64 * 64 * 4);
  });

  it('keeps LoRA state small and full fine-tuning state at several copies of the weights', () => {
    const lora = planMemory(nemo, { mode: 'lora', batch: 1, seq: 64, device: cpu(4096) });
    const full = planMemory(nemo, { mode: 'full', batch: 1, seq: 64, device: cpu(4096) });
    // rank 8 on q, k, v, o, gate, up, down of 40 layers
    expect(lora.trainableParameters).toBe(40 * 8 * (2 * (5120 + 4096) + 2 * (5120 + 1024) + 3 * (5120 + 14_336)));
    expect(full.trainableParameters).toBe(full.parameters);
    for (const key of ['trainable', 'adamM', 'adamV', 'gradients']) expect(item(full, key)).toBe(full.parameters * 4);
    // 12B trainable numbers are more than the host optimizer holds: AdamW in the graph, its three outputs copied into JS.
    expect(item(full, 'nextJsCopies')).toBe(3 * full.parameters * 4);
    expect(item(full, 'hostGradients')).toBe(0);
    expect(item(lora, 'adamV')).toBe(lora.trainableParameters * 4);
    // LoRA's adapters: AdamW on the host, the gradients the only outputs (written there, and copied once by the binding).
    expect(item(lora, 'hostGradients')).toBe(lora.trainableParameters * 4);
    expect(item(lora, 'nextJsCopies')).toBe(lora.trainableParameters * 4);
    expect(item(lora, 'nextOutputs')).toBe(0);
    expect(full.training.bytes).toBeGreaterThan(10 * full.parameters * 4);
  });

  it('frozen weights: float16 on cuda by default, float32 on cpu (where float16 graphs are widened)', () => {
    const gpu16 = planMemory(nemo, { mode: 'lora', batch: 1, seq: 64, device: parseDevice('cuda:80GB') });
    const gpu32 = planMemory(nemo, { mode: 'lora', batch: 1, seq: 64, device: parseDevice('cuda:80GB'), frozenDtype: 'float32' });
    expect(gpu16.frozenDtype).toBe('float16');
    expect(item(gpu32, 'frozenEval')).toBe(2 * item(gpu16, 'frozenEval'));
    expect(planMemory(nemo, { mode: 'lora', batch: 1, seq: 64, device: cpu() }).frozenDtype).toBe('float32');
    const cpu16 = planMemory(nemo, { mode: 'lora', batch: 1, seq: 64, device: cpu(), frozenDtype: 'float16' });
    expect(item(cpu16, 'frozenEval')).toBe(item(gpu32, 'frozenEval') - 131_072 * 5120 * 4); // float32, and the mapped embedding shared
  });

  it('says whether it fits, on the device memory only for cuda', () => {
    const small = modelDims(MODEL_PRESETS.tiny);
    expect(planMemory(small, { mode: 'lora', batch: 4, seq: 64, device: cpu(24) }).fits).toBe(true);
    expect(planMemory(small, { mode: 'lora', batch: 4, seq: 64, device: parseDevice('cpu:100MB') }).fits).toBe(false);
    const gpu = planMemory(nemo, { mode: 'lora', batch: 1, seq: 128, device: parseDevice('cuda:80GB') });
    expect(gpu.training.fits).toBe(true);
    expect(gpu.training.hostBytes).toBeGreaterThan(0);
    const deviceItems = gpu.training.items.filter((i) => i.on === 'device' && i.phase !== 'load').reduce((n, i) => n + i.bytes, 0);
    expect(gpu.training.bytes).toBe(deviceItems);
    expect(planMemory(nemo, { mode: 'full', batch: 1, seq: 128, device: parseDevice('cuda:80GB') }).fits).toBe(false);
  });

  it('prints a table of every term with the peak and the verdict', () => {
    const plan = planMemory(modelDims(MODEL_PRESETS.tiny), {
      mode: 'lora',
      batch: 4,
      seq: 64,
      device: cpu(24),
      generation: { batch: 2, maxTokens: 8 },
    });
    expect(plan.table).toContain('training (lora, batch 4 x seq 64, frozen weights float32, on cpu:24GB)');
    expect(plan.table).toContain('KV cache');
    expect(plan.table).toMatch(/peak RAM of 24\.0 GiB: fits/);
  });
});

describe('parseDevice', () => {
  it('reads cpu (this machine), cpu:<size> and cuda:<size>, sizes binary', () => {
    expect(parseDevice('cpu', 123)).toEqual({ kind: 'cpu', bytes: 123, text: 'cpu', fromMachine: true });
    expect(parseDevice('cpu:24GB').bytes).toBe(24 * GiB);
    expect(parseDevice('cuda:80GB')).toMatchObject({ kind: 'cuda', bytes: 80 * GiB });
    expect(parseDevice(' cuda:79.5GiB ').bytes).toBe(Math.floor(79.5 * GiB));
    expect(parseDevice('cpu:512mb').bytes).toBe(512 * MiB);
  });

  it.each([
    ['gpu:80GB', 'the kind must be cpu or cuda'],
    ['cuda', "give the GPU's memory"],
    ['cuda:80', 'needs a unit'],
    ['cuda:80XB', 'unknown unit "XB"'],
    ['cuda:lots', 'not a number with a unit'],
    ['cuda:0GB', 'more than 0'],
    ['cuda:80GB:1', 'more than one ":"'],
  ])('refuses %s, saying what is wrong', (text, problem) => {
    expect(() => parseDevice(text)).toThrow(problem);
    expect(() => parseDevice(text)).toThrow(`device "${text.trim()}"`);
  });
});

describe('readModelConfig', () => {
  it('reads config.json alone (no weights in the folder) with its stored dtype, and names a bad folder', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-plan-'));
    try {
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...MODEL_PRESETS.tiny, torch_dtype: 'bfloat16' }));
      expect(readModelConfig(dir)).toMatchObject({ dims: { vocab: 512, layers: 2 }, storedDtype: 'bfloat16' });
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...MODEL_PRESETS.tiny, num_key_value_heads: 3 }));
      expect(() => readModelConfig(dir)).toThrow(/model folder .*config\.json: num_key_value_heads/);
      writeFileSync(path.join(dir, 'config.json'), '{');
      expect(() => readModelConfig(dir)).toThrow('config.json is not valid JSON');
      expect(() => readModelConfig(path.join(dir, 'missing'))).toThrow(/model folder .*missing.*config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fineTuneMemoryDecision (the fine-tune stage refuses a run that cannot fit)', () => {
  const tiny = modelDims(MODEL_PRESETS.tiny);
  const wide = modelDims({
    ...VOCAB_131K,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 8,
    num_attention_heads: 16,
    num_key_value_heads: 4,
  });
  const run = { mode: 'lora' as const, batch: 4, seq: 128, lora: { rank: 8, targets: ['q_proj', 'v_proj'] as LoraTarget[] } };

  it('checks a CPU run against the machine memory', () => {
    expect(fineTuneMemoryDecision(tiny, run, 'cpu', {}, 24 * GiB).kind).toBe('fits');
    const refused = fineTuneMemoryDecision(wide, run, 'cpu', {}, 2 * GiB);
    expect(refused.kind).toBe('too-large');
    if (refused.kind !== 'too-large') return;
    // The numbers: needed, available, and the largest terms.
    expect(refused.message).toContain(`needs about ${formatBytes(refused.plan.training.bytes)}`);
    expect(refused.message).toContain("more than the 2.0 GiB of this machine's RAM");
    expect(refused.message).toMatch(/largest: frozenTrainStep [\d.]+ GiB/);
  });

  it('checks a CUDA run against PIXEL_GPU_MEMORY_GB, and skips it without', () => {
    expect(fineTuneMemoryDecision(wide, run, 'cuda', {}, 1)).toEqual({ kind: 'skipped', reason: expect.stringContaining('PIXEL_GPU_MEMORY_GB') });
    expect(fineTuneMemoryDecision(wide, run, 'cuda', { PIXEL_GPU_MEMORY_GB: '80' }, 1).kind).toBe('fits');
    const refused = fineTuneMemoryDecision(wide, { ...run, mode: 'full' }, 'cuda', { PIXEL_GPU_MEMORY_GB: '8' }, 1);
    expect(refused.kind).toBe('too-large');
    if (refused.kind === 'too-large') expect(refused.message).toContain('more than the 8.0 GiB of GPU memory (PIXEL_GPU_MEMORY_GB)');
    expect(fineTuneMemoryDecision(wide, run, 'cuda', { PIXEL_GPU_MEMORY_GB: 'eighty' }, 1)).toEqual({
      kind: 'invalid',
      message: expect.stringContaining('PIXEL_GPU_MEMORY_GB must be'),
    });
  });

  it("plans the run's frozen precision on the GPU", () => {
    const env = { PIXEL_GPU_MEMORY_GB: '1000' };
    const f32 = fineTuneMemoryDecision(wide, run, 'cuda', env, 1);
    const f16 = fineTuneMemoryDecision(wide, { ...run, frozenDtype: 'float16' }, 'cuda', env, 1);
    if (f32.kind !== 'fits' || f16.kind !== 'fits') throw new Error('expected both to fit');
    expect(f16.plan.training.bytes).toBeLessThan(f32.plan.training.bytes);
  });
});
