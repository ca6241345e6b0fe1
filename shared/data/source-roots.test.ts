import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../../test/helpers';
import { sourceOutsideRoots, sourceRoots } from './source-roots';

describe('source roots', () => {
  const t = tempDir('pixel-source-roots-');
  afterAll(() => t.cleanup());
  const data = path.join(t.dir, 'data');
  mkdirSync(path.join(data, 'sub'), { recursive: true });
  writeFileSync(path.join(data, 'sub', 'ok.jsonl'), '{}\n');
  writeFileSync(path.join(t.dir, 'secret.txt'), 'x\n');
  symlinkSync(path.join(t.dir, 'secret.txt'), path.join(data, 'link.jsonl'));

  it('allows files inside a root, as a path or a file:// URI', () => {
    expect(sourceOutsideRoots(path.join(data, 'sub', 'ok.jsonl'), [data])).toBeNull();
    expect(sourceOutsideRoots(pathToFileURL(path.join(data, 'sub', 'ok.jsonl')).href, [data])).toBeNull();
  });

  it('refuses files outside every root, traversal and links that lead out, naming the allowed folders', () => {
    expect(sourceOutsideRoots('/etc/passwd', [data])).toMatch(/^source \/etc\/passwd is outside the allowed source folders: .*PIXEL_SOURCE_ROOTS/);
    expect(sourceOutsideRoots(path.join(data, '..', 'secret.txt'), [data])).toMatch(/is outside the allowed source folders/);
    expect(sourceOutsideRoots(`file://${data}/../secret.txt`, [data])).toMatch(/is outside the allowed source folders/);
    expect(sourceOutsideRoots(path.join(data, 'link.jsonl'), [data])).toMatch(/links to a file outside the allowed source folders/);
    // A sibling folder whose name starts like the root's is not inside it (near miss).
    expect(sourceOutsideRoots(`${data}-other/x.jsonl`, [data])).toMatch(/is outside/);
  });

  it('reads PIXEL_SOURCE_ROOTS, else the data folder and a local store', () => {
    const saved = { roots: process.env.PIXEL_SOURCE_ROOTS, home: process.env.PIXEL_HOME, data: process.env.PIXEL_DATA };
    try {
      process.env.PIXEL_SOURCE_ROOTS = ['/a', ' ', '/b/c'].join(path.delimiter);
      expect(sourceRoots({ kind: 'local', root: '/store' })).toEqual(['/a', '/b/c']);
      delete process.env.PIXEL_SOURCE_ROOTS;
      delete process.env.PIXEL_DATA;
      process.env.PIXEL_HOME = '/home/p';
      expect(sourceRoots({ kind: 'local', root: '/store' })).toEqual(['/home/p/data', '/store']);
      process.env.PIXEL_DATA = '/srv/data';
      expect(sourceRoots()).toEqual(['/srv/data']);
    } finally {
      for (const [k, v] of [
        ['PIXEL_SOURCE_ROOTS', saved.roots],
        ['PIXEL_HOME', saved.home],
        ['PIXEL_DATA', saved.data],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});
