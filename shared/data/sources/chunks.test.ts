import { Readable } from 'node:stream';
import { Rng } from '../../util/rng';
import { readChunks } from './chunks';
import { readLines } from '../../util/lines';

/** Lines as readLines sees them: number -> text, or 'TOO_LONG'. Blank lines are left out. */
async function viaReadLines(pieces: Buffer[], max: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for await (const item of readLines(Readable.from(pieces), max, { blankLines: 0 })) {
    out.set(item.line, item.kind === 'text' ? item.raw : 'TOO_LONG');
  }
  return out;
}

/** The same, from the chunker's output split into lines the way the worker thread does. */
async function viaChunks(pieces: Buffer[], max: number, target: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let expectedFirst = 1;
  for await (const item of readChunks(Readable.from(pieces), max, target)) {
    if (item.kind === 'overlong') {
      expect(item.line).toBe(expectedFirst);
      out.set(item.line, 'TOO_LONG');
      expectedFirst += 1;
      continue;
    }
    expect(item.firstLine).toBe(expectedFirst);
    const text = item.buffer;
    let start = 0;
    let line = item.firstLine;
    while (start < text.length) {
      let nl = text.indexOf(10, start);
      if (nl === -1) nl = text.length;
      let end = nl;
      if (end > start && text[end - 1] === 13) end -= 1;
      const raw = text.toString('utf8', start, end);
      if (end - start > max) out.set(line, 'TOO_LONG');
      else if (raw.trim() !== '') out.set(line, raw);
      line += 1;
      start = nl + 1;
    }
    expectedFirst = line;
  }
  return out;
}

function randomInput(seed: number): { pieces: Buffer[]; max: number } {
  const rng = new Rng(seed);
  const max = rng.between(20, 200);
  const lines: string[] = [];
  for (let i = 0, n = rng.between(1, 300); i < n; i++) {
    const kind = rng.between(0, 9);
    if (kind === 0) lines.push('');
    else if (kind === 1) lines.push('x'.repeat(rng.between(max - 2, max + 3)));
    else if (kind === 2) lines.push('é'.repeat(rng.between(1, max)));
    else lines.push(`{"n":${i},"t":"${'a'.repeat(rng.between(0, max / 2))}"}`);
  }
  const sep = rng.chance(0.5) ? '\r\n' : '\n';
  const bytes = Buffer.from((rng.chance(0.3) ? '\uFEFF' : '') + lines.join(sep) + (rng.chance(0.5) ? sep : ''));
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = rng.between(1, 3 * max);
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return { pieces, max };
}

describe('readChunks', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('cuts random input %i exactly as readLines reads it', async (seed) => {
    const { pieces, max } = randomInput(seed);
    const expected = await viaReadLines(pieces, max);
    for (const target of [1, 64, 1 << 20]) expect(await viaChunks(pieces, max, target)).toEqual(expected);
  });

  it('never holds an over-long line whole', async () => {
    const huge = Buffer.alloc(5_000_000, 0x61);
    const items = [];
    for await (const item of readChunks(Readable.from([Buffer.from('ok\n'), huge, huge, Buffer.from('\nafter\n')]), 1000, 1 << 20)) items.push(item);
    expect(items.map((i) => (i.kind === 'overlong' ? ['overlong', i.line, i.head.length] : ['chunk', i.firstLine]))).toEqual([
      ['chunk', 1],
      ['overlong', 2, 4096],
      ['chunk', 3],
    ]);
  });
});
