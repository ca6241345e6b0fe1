import type { z } from 'zod';

/**
 * Formats a zod error as one line a person can act on, naming every bad field by its path,
 * e.g. `pipeline input: data.split.train: Too big: expected number to be <=1`.
 */
export function describeZodError(what: string, error: z.ZodError): string {
  const issues = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    return `${path}: ${issue.message}`;
  });
  return `${what}: ${issues.join('; ')}`;
}

/** Result of {@link parseWith}: either the parsed value or a message naming the bad fields. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses `input` with `schema`, turning failure into a descriptive message instead of a throw. */
export function parseWith<S extends z.ZodType>(schema: S, what: string, input: unknown): Parsed<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, message: describeZodError(what, result.error) };
}
