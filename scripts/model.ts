import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore, defaultArtifactRoot } from '../shared/artifacts';
import { GenerateArtifactsInputSchema, parseWith } from '../shared/contracts';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import { importGguf } from '../shared/training/gguf/import';
import { parameterShapes } from '../shared/training/model/config';
import { BASE_MODEL_PRESETS, ensurePreset, type BaseModelPreset } from '../shared/training/model/base-model';
import { createDefaultModel } from '../shared/training/model/default-model';
import { loadModelFolder } from '../shared/training/model/folder';
import { intOption } from './options';

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
      const result = await generateTrainingArtifacts(new LocalArtifactStore(opts.artifacts), parsed.value, (what) =>
        console.error(`generating ${what} ...`),
      );
      console.log(JSON.stringify(result, null, 2));
    });
}
