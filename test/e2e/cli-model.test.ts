import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { pixelFailure, runPixel, tempDir } from '../helpers';

interface Result {
  key: string;
  cacheHit: boolean;
  parameters: number;
  manifestUri: string;
  files: Record<string, { uri: string; bytes: number; sha256: string }>;
}

describe('pixel model', () => {
  const t = tempDir('pixel-cli-model-');
  afterAll(() => t.cleanup());

  it('creates the base model, generates its artifacts (cached on a repeat), and transformers.js chats with the inference folder', async () => {
    const modelDir = path.join(t.dir, 'base');
    const store = path.join(t.dir, 'store');
    const init = JSON.parse((await runPixel(['model', 'init', '--out', modelDir, '--preset', 'random-tiny'])).stdout) as { parameters: number };
    expect(init.parameters).toBeGreaterThan(50_000);
    const args = ['model', 'artifacts', '--model', modelDir, '--seq', '32', '--batch', '2', '--artifacts', store];
    const first = JSON.parse((await runPixel(args)).stdout) as Result;
    const second = JSON.parse((await runPixel(args)).stdout) as Result;
    expect(first.cacheHit).toBe(false);
    expect(second.cacheHit).toBe(true);
    expect(second.key).toBe(first.key);
    expect(Object.keys(first.files).sort()).toEqual(
      expect.arrayContaining([
        'train-step-full.onnx',
        'train-step-lora.onnx',
        'eval-full.onnx',
        'eval-lora.onnx',
        'inference/onnx/model.onnx',
        'inference/config.json',
        'inference/tokenizer.json',
        'inference/tokenizer_config.json',
      ]),
    );
    // Every graph opens in onnxruntime; the train step's manifest names what it takes.
    for (const name of Object.keys(first.files).filter((f) => f.endsWith('.onnx'))) {
      const session = await ort.InferenceSession.create(fileURLToPath(first.files[name]!.uri));
      await session.release();
    }
    const manifest = JSON.parse(readFileSync(fileURLToPath(first.files['train-step-full.json']!.uri), 'utf8')) as {
      trainable: { name: string }[];
      inputs: { name: string }[];
      outputs: { name: string }[];
      optimizer?: { placement: string };
    };
    expect(manifest.trainable[0]?.name).toBe('model.embed_tokens.weight');
    // AdamW on the host: the graph takes the data and the weights and gives the gradients.
    expect(manifest.optimizer?.placement).toBe('host');
    expect(manifest.inputs.map((i) => i.name)).toEqual(
      expect.arrayContaining(['input_ids', 'targets', 'loss_mask', 'example_weight', 'model.embed_tokens.weight']),
    );
    expect(manifest.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['loss', 'grad_norm', 'model.embed_tokens.weight.grad']));

    const inference = path.dirname(fileURLToPath(first.files['inference/config.json']!.uri));
    const hf = require('@huggingface/transformers') as typeof import('@huggingface/transformers');
    hf.env.allowRemoteModels = false;
    hf.env.allowLocalModels = true;
    hf.env.localModelPath = `${path.dirname(inference)}/`;
    const tokenizer = await hf.AutoTokenizer.from_pretrained(path.basename(inference));
    const model = await hf.AutoModelForCausalLM.from_pretrained(path.basename(inference), { dtype: 'fp32', device: 'cpu' });
    try {
      const inputs = tokenizer.apply_chat_template([{ role: 'user', content: 'I have been feeling anxious.' }], {
        add_generation_prompt: true,
        return_dict: true,
      }) as { input_ids: import('@huggingface/transformers').Tensor; attention_mask: import('@huggingface/transformers').Tensor };
      const prompt = inputs.input_ids.dims[1] as number;
      const output = (await model.generate({ ...inputs, max_new_tokens: 4, do_sample: false })) as import('@huggingface/transformers').Tensor;
      expect(output.dims).toEqual([1, prompt + 4]);
      expect(typeof tokenizer.decode(Array.from(output.data as BigInt64Array, Number), { skip_special_tokens: true })).toBe('string');
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it('refuses a folder that is not a model, and bad options, with clear messages', async () => {
    const err = await pixelFailure(['model', 'artifacts', '--model', t.dir, '--artifacts', path.join(t.dir, 'store2')]);
    expect(err.stderr).toMatch(/model folder .*config\.json/);
    const bad = await pixelFailure(['model', 'artifacts', '--model', t.dir, '--modes', 'full,sideways']);
    expect(bad.stderr).toContain('modes');
    const preset = await pixelFailure(['model', 'init', '--out', path.join(t.dir, 'x'), '--preset', 'huge']);
    expect(preset.stderr).toContain('--preset must be one of smollm2, random-small, random-tiny');
  });
});
