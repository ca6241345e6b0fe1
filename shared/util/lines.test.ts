import { Readable } from 'node:stream';
import { firstBadUtf8Byte, readLines } from './lines';
import type { LineItem as SourceItem } from './lines';

async function collect(chunks: (string | Buffer)[], max = 1 << 20): Promise<{ items: SourceItem[]; blank: number }> {
  const stats = { blankLines: 0 };
  const items: SourceItem[] = [];
  const stream = Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  for await (const item of readLines(stream, max, stats)) items.push(item);
  return { items, blank: stats.blankLines };
}

describe('readLines', () => {
  it('numbers lines from 1 and counts blank ones', async () => {
    const { items, blank } = await collect(['a\n\nb\n  \nc']);
    expect(items.map((i) => [i.line, i.kind === 'text' ? i.raw : ''])).toEqual([
      [1, 'a'],
      [3, 'b'],
      [5, 'c'],
    ]);
    expect(blank).toBe(2);
  });

  it('joins lines split across chunks, including inside a multi-byte character', async () => {
    const text = Buffer.from('{"x":"café"}\n{"y":2}\n');
    const cut = text.indexOf(0xa9); // second byte of é
    const { items } = await collect([text.subarray(0, cut), text.subarray(cut, 15), text.subarray(15)]);
    expect(items.map((i) => (i.kind === 'text' ? i.raw : ''))).toEqual(['{"x":"café"}', '{"y":2}']);
  });

  it('strips CRLF endings and a UTF-8 BOM', async () => {
    const { items } = await collect([Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('one\r\ntwo\r\n')])]);
    expect(items.map((i) => (i.kind === 'text' ? i.raw : ''))).toEqual(['one', 'two']);
  });

  it('rejects an over-long line with its number, keeping only its head', async () => {
    const long = 'z'.repeat(10_000);
    const { items } = await collect(['ok\n', long.slice(0, 3000), long.slice(3000), '\nafter\n'], 2048);
    expect(items.map((i) => [i.line, i.kind])).toEqual([
      [1, 'text'],
      [2, 'rejected'],
      [3, 'text'],
    ]);
    const rejected = items[1];
    if (rejected?.kind !== 'rejected') throw new Error('expected a rejected item');
    expect(rejected.reason).toBe('line_too_long');
    expect(rejected.raw.length).toBeLessThanOrEqual(4096);
  });

  it('accepts a line exactly at the limit (near miss)', async () => {
    const { items } = await collect(['x'.repeat(2048), '\n'], 2048);
    expect(items[0]?.kind).toBe('text');
  });

  it('rejects a line that is not UTF-8 with the offset of its first bad byte, and goes on', async () => {
    const bad = Buffer.concat([Buffer.from('{"id":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]); // Latin-1 é
    const { items } = await collect([Buffer.from('ok\n'), bad, Buffer.from('\nafter\n')]);
    expect(items.map((i) => [i.line, i.kind])).toEqual([
      [1, 'text'],
      [2, 'rejected'],
      [3, 'text'],
    ]);
    expect(items[1]).toMatchObject({ reason: 'invalid_utf8', detail: 'line is not valid UTF-8 (first bad byte at offset 10)' });
  });

  it.each([
    ['ascii and accents', Buffer.from('café – 日本 🙂'), -1],
    ['a lone continuation byte', Buffer.from([0x61, 0x80]), 1],
    ['an overlong slash', Buffer.from([0x61, 0xc0, 0xaf]), 1],
    ['a surrogate', Buffer.from([0xed, 0xa0, 0x80]), 0],
    ['past U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80]), 0],
    ['a character cut short', Buffer.from([0x61, 0xe6, 0x97]), 1],
    ['the largest code point (near miss)', Buffer.from([0xf4, 0x8f, 0xbf, 0xbf]), -1],
  ])('finds the first bad UTF-8 byte: %s', (_name, buf, expected) => {
    expect(firstBadUtf8Byte(buf)).toBe(expected);
  });

  it('yields a last line without a trailing newline', async () => {
    const { items } = await collect(['a\nb']);
    expect(items).toHaveLength(2);
  });
});
