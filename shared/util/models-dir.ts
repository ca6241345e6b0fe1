import * as path from 'node:path';

/**
 * Where setup installs read-only model folders (the sentence encoder, the PII tagger):
 * `$PIXEL_MODELS`, else `$PIXEL_HOME/models` (default `.pixel/models`). A separate variable lets
 * an image or a test stack with its own PIXEL_HOME use models installed once elsewhere.
 */
export function installedModelsDir(): string {
  return path.resolve(process.env.PIXEL_MODELS ?? path.join(process.env.PIXEL_HOME ?? '.pixel', 'models'));
}
