import type { z } from 'zod';

/**
 * Formats a zod error as one line a person can act on, naming every bad field by its path,
 * e.g. `pipeline input: data.split.train: Too big: expected number to be <=1`.
 */
export function describeZodError(what: string, error: z.ZodError, maxIssues = 8): string {
  // Bounded: a record with 100k bad elements must not produce a 50 MB message.
  const issues = error.issues.slice(0, maxIssues).map((issue) => {
    // Path segments can be keys of the input's own records (a sweep's space): plain names as they are, others quoted and bounded.
    const segment = (k: PropertyKey) => {
      const text = String(k);
      return /^[\w.:@-]{1,64}$/.test(text) ? text : JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
    };
    const path = issue.path.length > 0 ? issue.path.map(segment).join('.') : '(root)';
    // Unknown keys are named (what is wrong), but bounded and escaped: they come from the input.
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys
            .slice(0, 5)
            .map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k))
            .join(', ')}${issue.keys.length > 5 ? ` and ${issue.keys.length - 5} more` : ''}`
        : issue.message;
    return `${path}: ${message}`.slice(0, 300);
  });
  const more = error.issues.length - issues.length;
  return `${what}: ${issues.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

/** Result of {@link parseWith}: either the parsed value or a message naming the bad fields. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses `input` with `schema`, turning failure into a descriptive message instead of a throw. */
export function parseWith<S extends z.ZodType>(schema: S, what: string, input: unknown): Parsed<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, message: describeZodError(what, result.error) };
}
