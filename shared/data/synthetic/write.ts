import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import * as path from 'node:path';
import { replaceFile, type WriteTarget } from '../../util/files';
import { generateConversation, type GeneratorOptions } from './generator';

/**
 * Writes `count` synthetic conversations as JSONL to `file`, streaming (constant memory).
 * `onProgress` receives the number written so far, about every 10,000 records.
 */
export async function writeSyntheticJsonl(
  file: string,
  count: number,
  options: GeneratorOptions,
  onProgress?: (written: number) => void,
): Promise<{ records: number; bytes: number }> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  // A temporary file renamed into place: a failure (a full disk) leaves any earlier file whole.
  return replaceFile(file, 'output', (target) => writeTo(target, count, options, onProgress));
}

async function writeTo(
  target: WriteTarget,
  count: number,
  options: GeneratorOptions,
  onProgress?: (written: number) => void,
): Promise<{ records: number; bytes: number }> {
  const out = createWriteStream(target.path, { flags: target.flags });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined); // surfaced by the awaits below
  let bytes = 0;
  let batch: string[] = [];
  const flush = async () => {
    const chunk = batch.join('');
    batch = [];
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await Promise.race([new Promise<void>((resolve) => out.once('drain', () => resolve())), failed]);
  };
  for (let i = 0; i < count; i++) {
    batch.push(`${JSON.stringify(generateConversation(i, options))}\n`);
    if (batch.length === 1000) await flush();
    if ((i + 1) % 10_000 === 0) onProgress?.(i + 1);
  }
  await flush();
  out.end();
  // Rejects on a failed final flush too (a full disk), which end()'s callback does not report.
  await finished(out);
  onProgress?.(count);
  return { records: count, bytes };
}
