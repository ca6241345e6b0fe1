import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { describeZodError } from '../contracts/validation';
import { readInputFile } from './files';

/** A YAML (or JSON) text's data; the error names `what` and the parser's first line, never the text. */
export function parseYamlData(text: string, what: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new Error(`${what} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Parses a vocabulary or configuration text (YAML, or JSON, which is YAML) with its schema.
 * Errors name `what` and every bad field, never the text itself.
 */
export function parseYamlText<S extends z.ZodType>(text: string, schema: S, what: string): z.output<S> {
  const parsed = schema.safeParse(parseYamlData(text, what));
  if (!parsed.success) throw new Error(describeZodError(what, parsed.error));
  return parsed.data;
}

/** Loads a YAML file with its schema; the sha256 of its text identifies the version (cache keys). */
export function loadYamlFile<S extends z.ZodType>(file: string, schema: S, what: string): { value: z.output<S>; sha256: string } {
  const text = readInputFile(file, what);
  return { value: parseYamlText(text, schema, `${what} ${file}`), sha256: createHash('sha256').update(text).digest('hex') };
}
