import * as path from 'node:path';
import type { Command } from 'commander';
import { artifactStoreAt, defaultArtifactRoot } from '../shared/artifacts';
import { GenerateArtifactsInputSchema, LoraSpecSchema, SamplingConfigSchema, TrainConfigSchema, parseWith } from '../shared/contracts';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import { importGguf } from '../shared/training/gguf/import';
import { parameterShapes } from '../shared/training/model/config';
import { BASE_MODEL_PRESETS, ensurePreset, type BaseModelPreset } from '../shared/training/model/base-model';
import { createDefaultModel } from '../shared/training/model/default-model';
import { loadModelFolder } from '../shared/training/model/folder';
import {
  LORA_TARGETS,
  defaultFrozenDtype,
  formatBytes,
  largestItems,
  parseDevice,
  planMemory,
  readModelConfig,
  type FrozenDtype,
  type LoraTarget,
} from '../shared/training/model/memory-plan';
import { intOption } from './options';
import { registerModelRollbackCommand } from './serve';

export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('Base model folders and the training artifacts generated from them');
  model
    .command('init')
    .description('Create a base model folder: SmolLM2-135M-Instruct imported from the cached GGUF (setup fetches it), or a random preset')
    .option('--preset <name>', `one of ${BASE_MODEL_PRESETS.join(', ')}`, 'smollm2')
    .option('--out <dir>', 'where to write it (default: the preset folder under $PIXEL_HOME/models, where runs find it)')
    .option('--seed <n>', 'initialisation seed of a random preset', intOption('--seed', 0), 0)
    .action(async (opts: { out?: string; preset: string; seed: number }) => {
      if (!(BASE_MODEL_PRESETS as readonly string[]).includes(opts.preset))
        throw new Error(`--preset must be one of ${BASE_MODEL_PRESETS.join(', ')}`);
      const preset = opts.preset as BaseModelPreset;
      let dir: string;
      if (preset === 'smollm2' || !opts.out) {
        if (opts.out) throw new Error('--out is for the random presets; SmolLM2 goes to its preset folder (or use pixel model import-gguf --out)');
        dir = await ensurePreset(preset);
      } else {
        dir = path.resolve(opts.out);
        await createDefaultModel(dir, preset === 'random-tiny' ? 'tiny' : 'default', opts.seed);
      }
      const { dims } = await loadModelFolder(dir);
      const parameters = parameterShapes(dims).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
      console.log(JSON.stringify({ model: dir, preset, parameters, dims }, null, 2));
    });
  model
    .command('import-gguf')
    .description(
      'Import a GGUF Llama-family model (llama.cpp format) as a Hugging Face model folder: float32 safetensors, config, tokenizer, license',
    )
    .argument('<file>', 'the .gguf file')
    .requiredOption('--out <dir>', 'the model folder to create')
    .option('--license <file>', 'a license file to copy into the folder as LICENSE')
    .option('--expect-sha256 <hex>', 'refuse the file unless this is its sha256')
    .option('--source <text>', 'where the file came from, for the attribution (NOTICE, README.md)')
    .action(async (file: string, opts: { out: string; license?: string; expectSha256?: string; source?: string }) => {
      const r = await importGguf(file, opts.out, { licenseFile: opts.license, expectSha256: opts.expectSha256, source: opts.source });
      console.log(
        JSON.stringify(
          {
            model: r.outDir,
            sha256: r.sha256,
            parameters: r.parameters,
            tensorTypes: r.tensorTypes,
            vocab: r.vocabSize,
            layers: r.dims.layers,
            hidden: r.dims.hidden,
            seconds: Number(r.seconds.toFixed(2)),
          },
          null,
          2,
        ),
      );
    });
  model
    .command('artifacts')
    .description('Generate the train-step, eval and inference ONNX graphs of a model folder into the artifact store')
    .requiredOption('--model <dir>', 'a Hugging Face-style model folder (config.json, model.safetensors)')
    .option('--modes <list>', 'full, lora or both (comma-separated)', 'full,lora')
    .option('--batch <n>', 'sequences per train step', intOption('--batch', 1), 8)
    .option('--seq <n>', 'tokens per sequence (the training bucket)', intOption('--seq', 2), 128)
    .option('--artifacts <dir>', 'artifact store root', defaultArtifactRoot())
    .action(async (opts: { model: string; modes: string; batch: number; seq: number; artifacts: string }) => {
      const parsed = parseWith(GenerateArtifactsInputSchema, 'options', {
        model: opts.model,
        modes: opts.modes.split(',').map((m) => m.trim()),
        batch: opts.batch,
        seq: opts.seq,
      });
      if (!parsed.ok) throw new Error(parsed.message);
      const result = await generateTrainingArtifacts(artifactStoreAt(opts.artifacts, '--artifacts'), parsed.value, (what) =>
        console.error(`generating ${what} ...`),
      );
      console.log(JSON.stringify(result, null, 2));
    });
  const trainDefaults = TrainConfigSchema.parse({});
  const samplingDefaults = SamplingConfigSchema.parse({});
  model
    .command('plan')
    .description(
      "The memory a run needs (weights, LoRA and optimizer state, activations, KV cache) and whether it fits the device, from the model's config.json alone; prints JSON",
    )
    .requiredOption('--model <dir>', 'a model folder (only its config.json is read)')
    .option('--mode <mode>', 'lora or full', trainDefaults.mode)
    .option('--batch <n>', 'sequences per train step', intOption('--batch', 1, 65_536), trainDefaults.batch)
    .option('--seq <n>', 'tokens per sequence', intOption('--seq', 1, 1_048_576), trainDefaults.seq)
    .option('--lora-rank <n>', 'LoRA rank', intOption('--lora-rank', 1, 512), LoraSpecSchema.parse({}).rank)
    .option(
      '--lora-targets <list>',
      `LoRA target projections, comma-separated (${LORA_TARGETS.join(', ')})`,
      LoraSpecSchema.parse({}).targets.join(','),
    )
    .option('--device <spec>', 'cpu (this machine), cpu:24GB or cuda:80GB', 'cpu')
    .option('--frozen-dtype <dtype>', 'frozen base weights in LoRA: float32 or float16 (default: float32 on cpu, float16 on cuda)')
    .option('--max-new-tokens <n>', 'generation: new tokens per response', intOption('--max-new-tokens', 1, 1_048_576), samplingDefaults.maxNewTokens)
    .option('--gen-batch <n>', 'generation: prompts decoded together', intOption('--gen-batch', 1, 4096), samplingDefaults.batch)
    .option('--prompt-tokens <n>', 'generation: prompt tokens (default: --seq)', intOption('--prompt-tokens', 1, 1_048_576))
    .option('--check', 'exit 1 when the run does not fit')
    .action(
      (opts: {
        model: string;
        mode: string;
        batch: number;
        seq: number;
        loraRank: number;
        loraTargets: string;
        device: string;
        frozenDtype?: string;
        maxNewTokens: number;
        genBatch: number;
        promptTokens?: number;
        check?: boolean;
      }) => {
        if (opts.mode !== 'lora' && opts.mode !== 'full') throw new Error(`--mode must be lora or full, not "${opts.mode}"`);
        if (opts.frozenDtype !== undefined && opts.frozenDtype !== 'float32' && opts.frozenDtype !== 'float16')
          throw new Error(`--frozen-dtype must be float32 or float16, not "${opts.frozenDtype}"`);
        const targets = opts.loraTargets.split(',').map((t) => t.trim());
        const unknown = targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
        if (unknown.length > 0) throw new Error(`--lora-targets: unknown ${unknown.join(', ')} (use ${LORA_TARGETS.join(', ')})`);
        const device = parseDevice(opts.device);
        const dir = path.resolve(opts.model);
        const { dims, storedDtype } = readModelConfig(dir);
        const mode = opts.mode;
        const plan = (frozenDtype: FrozenDtype) =>
          planMemory(dims, {
            mode,
            batch: opts.batch,
            seq: opts.seq,
            lora: { rank: opts.loraRank, targets: targets as LoraTarget[] },
            frozenDtype,
            storedDtype,
            device,
            generation: { batch: opts.genBatch, maxTokens: opts.maxNewTokens, ...(opts.promptTokens ? { promptTokens: opts.promptTokens } : {}) },
          });
        const chosen = plan(opts.frozenDtype ?? defaultFrozenDtype(device.kind));
        // LoRA: both precisions of the frozen weights, side by side.
        const precisions =
          mode === 'lora'
            ? (['float32', 'float16'] as const).map((dtype) => {
                const p = plan(dtype);
                return { frozenDtype: dtype, trainingBytes: p.training.bytes, training: formatBytes(p.training.bytes), fits: p.training.fits };
              })
            : undefined;
        console.log(
          JSON.stringify(
            {
              model: dir,
              dims: { vocab: dims.vocab, hidden: dims.hidden, layers: dims.layers, heads: dims.heads, kvHeads: dims.kvHeads, headDim: dims.headDim },
              storedDtype,
              ...chosen,
              table: undefined,
              summary: {
                training: formatBytes(chosen.training.bytes),
                generation: chosen.generation ? formatBytes(chosen.generation.bytes) : undefined,
                device: formatBytes(device.bytes),
              },
              ...(precisions ? { precisions } : {}),
            },
            null,
            2,
          ),
        );
        if (!opts.check) console.error(chosen.table);
        else if (!chosen.fits) {
          const failing = chosen.training.fits ? 'generation' : 'training';
          const t = chosen.training.fits ? chosen.generation! : chosen.training;
          throw new Error(
            `${failing} does not fit ${device.text}: needs ${formatBytes(t.bytes)} of ${formatBytes(device.bytes)} (largest: ${largestItems(t, device.kind)})`,
          );
        }
      },
    );
  registerModelRollbackCommand(model);
}
