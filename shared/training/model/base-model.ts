import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDefaultModel } from './default-model';

/** Raised when a named base model folder is not there: the run cannot train from it. */
export class BaseModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaseModelError';
  }
}

/** Where the embedded default base model lives: `$PIXEL_HOME/models/default`. */
export function defaultBaseModelDir(): string {
  return path.resolve(process.env.PIXEL_HOME ?? '.pixel', 'models', 'default');
}

/**
 * The folder of the base model a run trains from: `model` (a path or file:// URI), which must be
 * a model folder, or the embedded default, created on first use.
 */
export async function resolveBaseModel(model: string | undefined): Promise<string> {
  if (model === undefined) {
    const dir = defaultBaseModelDir();
    if (!existsSync(path.join(dir, 'config.json'))) await createDefaultModel(dir);
    return dir;
  }
  const dir = path.resolve(model.startsWith('file:') ? fileURLToPath(model) : model);
  if (!existsSync(path.join(dir, 'config.json'))) throw new BaseModelError(`config.model: no model folder at ${dir} (config.json missing)`);
  return dir;
}
