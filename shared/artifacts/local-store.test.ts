import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactStoreContract } from '../../test/artifact-store-contract';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from './local-store';

describe('LocalArtifactStore', () => {
  const dirs: ReturnType<typeof tempDir>[] = [];
  const fresh = () => {
    const t = tempDir();
    dirs.push(t);
    return new LocalArtifactStore(t.dir);
  };
  afterEach(() => {
    for (const t of dirs.splice(0)) t.cleanup();
  });

  describe('the store contract', () => {
    artifactStoreContract(async () => {
      const store = fresh();
      return { store, other: () => new LocalArtifactStore(store.root) };
    });
  });

  it('writes through a temporary sibling that is gone once the file is in place', async () => {
    const store = fresh();
    const writer = store.openWrite('a/b/file.jsonl');
    await writer.write('x'.repeat(3 << 20));
    const ref = await writer.close();
    expect(readdirSync(path.dirname(fileURLToPath(ref.uri)))).toEqual(['file.jsonl']);
  });

  it('reads plain paths and file URIs', async () => {
    const store = fresh();
    const file = path.join(store.root, 'plain.txt');
    writeFileSync(file, 'hello');
    expect(await store.readText(file)).toBe('hello');
    expect(await store.readText(`file://${file}`)).toBe('hello');
    expect(await store.exists(file)).toBe(true);
    await expect(store.openRead('s3://bucket/key')).rejects.toThrow(/reads only file:\/\/ URIs and paths/);
  });

  (process.getuid?.() === 0 ? it.skip : it)('reports a file without read permission', async () => {
    const store = fresh();
    const file = path.join(store.root, 'secret');
    writeFileSync(file, 'x');
    chmodSync(file, 0o000);
    await expect(store.stat(file)).rejects.toThrow(/permission denied/);
  });

  it('gives the artifact itself as its local path, and a workspace in its own place', async () => {
    const store = fresh();
    const ref = await store.writeText('m/model/config.json', '{}');
    expect(await store.localPath(ref.uri)).toBe(path.join(store.root, 'm', 'model', 'config.json'));
    expect(await store.localPath(store.uriFor('m/model'), { folder: true })).toBe(path.join(store.root, 'm', 'model'));
    expect((await store.workspace('runs/r1')).dir).toBe(path.join(store.root, 'runs', 'r1'));
  });
});
