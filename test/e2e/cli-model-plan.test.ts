import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MODEL_PRESETS } from '../../shared/training/model/default-model';
import { MISTRAL_NEMO_12B } from '../../shared/training/model/sharded-model';
import { pixelFailure, runPixel, tempDir } from '../helpers';

interface Plan {
  mode: string;
  frozenDtype: string;
  fits: boolean;
  parameters: number;
  training: { bytes: number; fits: boolean; items: { key: string; bytes: number }[] };
  generation: { bytes: number; fits: boolean; items: { key: string; bytes: number }[] };
  precisions?: { frozenDtype: string; fits: boolean; trainingBytes: number }[];
}

/** Mistral-Nemo-12B's config.json (the shape of Wayfarer-2-12B): no weights beside it, which `plan` never reads. */
const NEMO = { architectures: ['MistralForCausalLM'], ...MISTRAL_NEMO_12B, torch_dtype: 'bfloat16' };

/** The random-tiny preset's config. */
const TINY = MODEL_PRESETS.tiny;

describe('pixel model plan', () => {
  const t = tempDir('pixel-cli-plan-');
  const folder = (name: string, config: unknown) => {
    const dir = path.join(t.dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };
  const nemo = folder('nemo', NEMO);
  const tiny = folder('tiny', TINY);
  afterAll(() => t.cleanup());
  const plan = async (args: string[]) => {
    const { stdout, stderr } = await runPixel(['model', 'plan', ...args]);
    return { plan: JSON.parse(stdout) as Plan, table: stderr };
  };

  it('plans a small model, which fits, and prints the table', async () => {
    const { plan: p, table } = await plan(['--model', tiny, '--device', 'cpu:24GB', '--check']);
    expect(p.fits).toBe(true);
    expect(p.training.items.map((i) => i.key)).toEqual(expect.arrayContaining(['frozenTrainStep', 'frozenEval', 'logits', 'adamM', 'runtime']));
    expect(p.generation.items.map((i) => i.key)).toEqual(expect.arrayContaining(['kvCache', 'inferenceWeights']));
    expect(table).toBe(''); // --check prints no table
    const shown = await plan(['--model', tiny]);
    expect(shown.table).toMatch(/peak RAM of .* fits/);
  });

  it('a Mistral-Nemo-shaped model on an 80 GB GPU: LoRA fits only with float16 frozen weights, full fine-tuning does not', async () => {
    const args = ['--model', nemo, '--device', 'cuda:80GB', '--batch', '1', '--seq', '128'];
    const { plan: lora } = await plan(args);
    expect(lora.parameters).toBeGreaterThan(12e9);
    expect(lora.frozenDtype).toBe('float16');
    expect(lora.training.fits).toBe(true);
    expect(lora.precisions).toEqual([
      expect.objectContaining({ frozenDtype: 'float32', fits: false }),
      expect.objectContaining({ frozenDtype: 'float16', fits: true }),
    ]);
    const { plan: f32 } = await plan([...args, '--frozen-dtype', 'float32']);
    expect(f32.training.fits).toBe(false);
    const refused = await pixelFailure(['model', 'plan', ...args, '--frozen-dtype', 'float32', '--check']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/training does not fit cuda:80GB: needs [\d.]+ GiB of 80\.0 GiB \(largest: frozenTrainStep/);

    const { plan: full } = await plan([...args, '--mode', 'full']);
    expect(full.mode).toBe('full');
    expect(full.fits).toBe(false);
    expect(full.training.bytes).toBeGreaterThan(4 * 80 * 1024 ** 3);
  });

  it('refuses a bad device and a folder without a config, with clear messages', async () => {
    const bad = await pixelFailure(['model', 'plan', '--model', tiny, '--device', 'gpu:80GB']);
    expect(bad.stderr).toContain('device "gpu:80GB": the kind must be cpu or cuda');
    const unsized = await pixelFailure(['model', 'plan', '--model', tiny, '--device', 'cuda']);
    expect(unsized.stderr).toContain("give the GPU's memory, as in cuda:80GB");
    const unit = await pixelFailure(['model', 'plan', '--model', tiny, '--device', 'cuda:80XB']);
    expect(unit.stderr).toContain('unknown unit "XB"');
    const missing = await pixelFailure(['model', 'plan', '--model', path.join(t.dir, 'nothing')]);
    expect(missing.stderr).toMatch(/model folder .*nothing.*config/);
    const broken = folder('broken', { ...TINY, num_key_value_heads: 3 });
    expect((await pixelFailure(['model', 'plan', '--model', broken])).stderr).toContain('num_key_value_heads');
  });
});
