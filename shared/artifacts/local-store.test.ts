import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/helpers';
import { openArtifactStore } from './from-env';
import { LocalArtifactStore } from './local-store';
import { ArtifactNotFoundError, ArtifactUnreadableError } from './store';

describe('LocalArtifactStore', () => {
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  beforeEach(() => {
    t = tempDir();
    store = new LocalArtifactStore(t.dir);
  });
  afterEach(() => t.cleanup());

  it('writes a streamed file atomically and reports its size and sha256', async () => {
    const writer = store.openWrite('a/b/file.jsonl');
    const parts = Array.from({ length: 3000 }, (_, i) => `{"n":${i},"pad":"${'é'.repeat(300)}"}\n`);
    for (const p of parts) await writer.write(p);
    const target = fileURLToPath(writer.uri);
    expect(existsSync(target)).toBe(false);
    const ref = await writer.close();
    const bytes = Buffer.from(parts.join(''));
    expect(ref.bytes).toBe(bytes.length);
    expect(ref.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await store.readText(ref.uri)).toBe(parts.join(''));
    expect(readdirSync(path.dirname(target))).toEqual(['file.jsonl']);
  });

  it('leaves nothing behind when a write is aborted', async () => {
    const writer = store.openWrite('x/y.txt');
    await writer.write('partial'.repeat(200_000));
    await writer.abort();
    expect(readdirSync(path.join(t.dir, 'x'))).toEqual([]);
  });

  it.each(['../escape', '/abs', 'a//b', ''])('refuses the key %j', (key) => {
    expect(() => store.uriFor(key)).toThrow(/invalid artifact key/);
  });

  it('reads plain paths and file URIs', async () => {
    const file = path.join(t.dir, 'plain.txt');
    writeFileSync(file, 'hello');
    expect(await store.readText(file)).toBe('hello');
    expect(await store.readText(`file://${file}`)).toBe('hello');
    expect(await store.exists(file)).toBe(true);
  });

  it('tells a missing file from an unreadable one', async () => {
    await expect(store.stat(path.join(t.dir, 'missing'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.stat(t.dir)).rejects.toBeInstanceOf(ArtifactUnreadableError);
    await expect(store.openRead('s3://bucket/key')).rejects.toBeInstanceOf(ArtifactUnreadableError);
  });

  (process.getuid?.() === 0 ? it.skip : it)('reports a file without read permission', async () => {
    const file = path.join(t.dir, 'secret');
    writeFileSync(file, 'x');
    chmodSync(file, 0o000);
    await expect(store.stat(file)).rejects.toThrow(/permission denied/);
  });

  it('removes a prefix', async () => {
    await store.writeText('p/q/1.txt', 'a');
    await store.writeText('p/q/2.txt', 'b');
    await store.removePrefix('p/q');
    expect(existsSync(path.join(t.dir, 'p', 'q'))).toBe(false);
  });

  it('gives local paths of files and folders, and says which is missing or the wrong kind', async () => {
    const ref = await store.writeText('m/model/config.json', '{}');
    expect(await store.localPath(ref.uri)).toBe(path.join(t.dir, 'm', 'model', 'config.json'));
    expect(await store.localPath(store.uriFor('m/model'), { folder: true })).toBe(path.join(t.dir, 'm', 'model'));
    await expect(store.localPath(store.uriFor('m/model'))).rejects.toThrow(/not a regular file/);
    await expect(store.localPath(ref.uri, { folder: true })).rejects.toThrow(/not a folder/);
    await expect(store.localPath(store.uriFor('m/none'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('publishes what a workspace holds under its key, and refuses files outside it', async () => {
    const ws = await store.workspace('runs/r1/checkpoints');
    writeFileSync(path.join(ws.dir, 'step-1.safetensors'), 'x');
    const uri = await ws.publish(path.join(ws.dir, 'step-1.safetensors'));
    expect(uri).toBe(store.uriFor('runs/r1/checkpoints/step-1.safetensors'));
    expect(await store.readText(uri)).toBe('x');
    expect(await ws.publish()).toBe(store.uriFor('runs/r1/checkpoints'));
    await expect(ws.publish(path.join(t.dir, 'elsewhere.txt'))).rejects.toThrow(/not inside the workspace/);
  });

  it('describes its location so another thread opens the same store', async () => {
    const ref = await store.writeText('shared/a.txt', 'same');
    const other = openArtifactStore(store.location());
    expect(await other.readText(ref.uri)).toBe('same');
    expect(other.uriFor('shared/a.txt')).toBe(ref.uri);
  });
});
