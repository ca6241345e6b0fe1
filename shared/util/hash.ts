import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted at every level, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** sha256 and size of a whole stream. */
export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A stream's bytes passed through unchanged, hashed on the way; `digest()` once it has ended. */
export function hashingTap(source: Readable): { stream: Readable; digest: () => { sha256: string; bytes: number } | undefined } {
  const hash = createHash('sha256');
  let bytes = 0;
  let ended = false;
  async function* pass(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    ended = true;
  }
  let result: { sha256: string; bytes: number } | undefined;
  return {
    // Readable.from ends the generator (and so destroys the source) when the reader stops early.
    stream: Readable.from(pass(), { objectMode: false }),
    digest: () => {
      if (!ended) return undefined;
      result ??= { sha256: hash.digest('hex'), bytes };
      return result;
    },
  };
}
