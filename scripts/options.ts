import { InvalidArgumentError } from 'commander';
import { readInputFile } from '../shared/util/files';
import { jsonErrorPosition } from '../shared/util/jsonl';

/** commander parser for a non-negative integer option. */
export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** commander parser for a number in [0, 1]. */
export function shareOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number from 0 to 1`);
    return n;
  };
}

/** Reads a JSON object given inline (`--input '{...}'`) or from a file (`--input-file f.json`). */
export function readJsonInput(inline: string | undefined, file: string | undefined): unknown {
  if (inline !== undefined && file !== undefined) throw new Error('give either --input or --input-file, not both');
  const text = file !== undefined ? readInputFile(file, '--input-file') : inline;
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text; the position is enough.
    const at = jsonErrorPosition(err);
    throw new Error(`${file ? `--input-file ${file}` : '--input'} is not valid JSON${at === undefined ? '' : ` (at character ${at})`}`);
  }
}
