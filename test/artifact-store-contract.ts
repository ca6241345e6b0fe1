import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { openArtifactStore, type ArtifactStore } from '../shared/artifacts';
import { ArtifactNotFoundError, ArtifactUnreadableError } from '../shared/artifacts/store';
import { tempDir } from './helpers';

/** A store for one test, and a second one on the same storage that shares nothing local with it (another worker). */
export interface StoreUnderTest {
  store: ArtifactStore;
  /** Another process's view of the same storage: for a remote store, a different local cache. */
  other(): ArtifactStore;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function readAll(store: ArtifactStore, uri: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.openRead(uri)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The behaviour every {@link ArtifactStore} must have, run against each implementation (the
 * local folder, and an S3-compatible server): atomic files with their size and hash, aborts that
 * leave nothing, keys refused, missing told from unreadable, prefixes removed, local paths of
 * files and folders, workspaces published, and another process seeing what one wrote.
 */
export function artifactStoreContract(make: () => Promise<StoreUnderTest>): void {
  let s: StoreUnderTest;
  let store: ArtifactStore;
  beforeEach(async () => {
    s = await make();
    store = s.store;
  });

  it('writes a streamed file that appears only when closed, with its size and sha256', async () => {
    const writer = store.openWrite('a/b/file.jsonl');
    const parts = Array.from({ length: 3000 }, (_, i) => `{"n":${i},"pad":"${'é'.repeat(300)}"}\n`);
    for (const p of parts) await writer.write(p);
    expect(await store.exists(writer.uri)).toBe(false);
    const ref = await writer.close();
    const bytes = Buffer.from(parts.join(''));
    expect(ref).toEqual({ uri: store.uriFor('a/b/file.jsonl'), bytes: bytes.length, sha256: sha256(bytes) });
    expect(await store.readText(ref.uri)).toBe(parts.join(''));
    expect(await store.stat(ref.uri)).toEqual({ bytes: bytes.length });
    expect(sha256(await readAll(store, ref.uri))).toBe(ref.sha256);
  });

  it('writes bytes and an empty file', async () => {
    const writer = store.openWrite('bin/data');
    await writer.write(Buffer.from([0, 1, 2, 255]));
    await writer.write('x');
    const ref = await writer.close();
    expect(ref.bytes).toBe(5);
    expect([...(await readAll(store, ref.uri))]).toEqual([0, 1, 2, 255, 120]);
    const empty = await store.writeText('bin/empty', '');
    expect(empty.bytes).toBe(0);
    expect(await store.readText(empty.uri)).toBe('');
  });

  it('leaves nothing behind when a write is aborted', async () => {
    const writer = store.openWrite('x/y.txt');
    await writer.write('partial'.repeat(200_000));
    await writer.abort();
    expect(await store.exists(store.uriFor('x/y.txt'))).toBe(false);
  });

  it('replaces a file whole: readers see the old content or the new, and other processes see the new', async () => {
    const first = await store.writeText('r/current.json', '{"v":1}');
    const other = s.other();
    expect(await other.readText(first.uri)).toBe('{"v":1}');
    expect(readFileSync(await other.localPath(first.uri), 'utf8')).toBe('{"v":1}');
    await store.writeText('r/current.json', '{"v":22}');
    expect(await other.readText(first.uri)).toBe('{"v":22}');
    expect(readFileSync(await other.localPath(first.uri), 'utf8')).toBe('{"v":22}');
  });

  it.each(['../escape', '/abs', 'a//b', '', 'a/../b'])('refuses the key %j', (key) => {
    expect(() => store.uriFor(key)).toThrow(/invalid artifact key/);
    expect(() => store.openWrite(key)).toThrow(/invalid artifact key/);
  });

  it('tells a missing file from one that cannot be read as a file', async () => {
    await store.writeText('d/inside.txt', 'x');
    await expect(store.stat(store.uriFor('d/missing'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.readText(store.uriFor('d/missing'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.openRead(store.uriFor('d/missing'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.stat(store.uriFor('d'))).rejects.toBeInstanceOf(ArtifactUnreadableError);
    await expect(store.readText(store.uriFor('d'))).rejects.toBeInstanceOf(ArtifactUnreadableError);
    expect(await store.exists(store.uriFor('d'))).toBe(true);
    expect(await store.exists(store.uriFor('d/missing'))).toBe(false);
    await expect(store.openRead('ftp://host/file')).rejects.toBeInstanceOf(ArtifactUnreadableError);
  });

  it('removes a prefix and only that prefix', async () => {
    await store.writeText('p/q/1.txt', 'a');
    await store.writeText('p/q/deep/2.txt', 'b');
    await store.writeText('p/qq/3.txt', 'c');
    await store.writeText('p/q.txt', 'd');
    await store.removePrefix('p/q');
    expect(await store.exists(store.uriFor('p/q/1.txt'))).toBe(false);
    expect(await store.exists(store.uriFor('p/q/deep/2.txt'))).toBe(false);
    expect(await store.exists(store.uriFor('p/q'))).toBe(false);
    expect(await store.readText(store.uriFor('p/qq/3.txt'))).toBe('c');
    expect(await store.readText(store.uriFor('p/q.txt'))).toBe('d');
    await store.removePrefix('p/never-written');
  });

  it('gives local paths of files and folders, and says which is missing or the wrong kind', async () => {
    const ref = await store.writeText('m/model/config.json', '{}');
    await store.writeText('m/model/onnx/model.onnx', 'graph');
    const file = await store.localPath(ref.uri);
    expect(readFileSync(file, 'utf8')).toBe('{}');
    const other = s.other();
    const dir = await other.localPath(store.uriFor('m/model'), { folder: true });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'onnx']);
    expect(readFileSync(path.join(dir, 'onnx', 'model.onnx'), 'utf8')).toBe('graph');
    await expect(store.localPath(store.uriFor('m/model'))).rejects.toThrow(/not a regular file/);
    await expect(store.localPath(ref.uri, { folder: true })).rejects.toThrow(/not a folder/);
    await expect(store.localPath(store.uriFor('m/none'))).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.localPath(store.uriFor('m/none'), { folder: true })).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('publishes what a workspace holds under its key, for other processes too, and refuses files outside it', async () => {
    const ws = await store.workspace('runs/r1/checkpoints');
    writeFileSync(path.join(ws.dir, 'step-1.safetensors'), 'x');
    const uri = await ws.publish(path.join(ws.dir, 'step-1.safetensors'));
    expect(uri).toBe(store.uriFor('runs/r1/checkpoints/step-1.safetensors'));
    expect(await s.other().readText(uri)).toBe('x');
    mkdirSync(path.join(ws.dir, 'final', 'onnx'), { recursive: true });
    writeFileSync(path.join(ws.dir, 'final', 'config.json'), '{"a":1}');
    writeFileSync(path.join(ws.dir, 'final', 'onnx', 'model.onnx'), 'g');
    expect(await ws.publish()).toBe(store.uriFor('runs/r1/checkpoints'));
    const seen = await s.other().localPath(store.uriFor('runs/r1/checkpoints/final'), { folder: true });
    expect(readFileSync(path.join(seen, 'config.json'), 'utf8')).toBe('{"a":1}');
    expect(readFileSync(path.join(seen, 'onnx', 'model.onnx'), 'utf8')).toBe('g');
    const outside = tempDir();
    try {
      writeFileSync(path.join(outside.dir, 'elsewhere.txt'), 'no');
      await expect(ws.publish(path.join(outside.dir, 'elsewhere.txt'))).rejects.toThrow(/not inside the workspace/);
    } finally {
      outside.cleanup();
    }
  });

  it('shares a folder of this machine so that another worker reads the same files', async () => {
    const local = tempDir();
    try {
      mkdirSync(path.join(local.dir, 'onnx'));
      writeFileSync(path.join(local.dir, 'config.json'), '{"base":true}');
      writeFileSync(path.join(local.dir, 'onnx', 'model.onnx'), 'weights');
      const keyOf = async () => 'models/base/0123abcd';
      const uri = await store.shareFolder(local.dir, keyOf);
      const seen = await s.other().localPath(uri, { folder: true });
      expect(readFileSync(path.join(seen, 'config.json'), 'utf8')).toBe('{"base":true}');
      expect(readFileSync(path.join(seen, 'onnx', 'model.onnx'), 'utf8')).toBe('weights');
      // Shared once: the same folder gives the same URI again.
      expect(await store.shareFolder(local.dir, keyOf)).toBe(uri);
      await expect(store.shareFolder(path.join(local.dir, 'missing'), async () => 'models/base/none')).rejects.toThrow();
    } finally {
      local.cleanup();
    }
  });

  it('describes its location so another thread opens the same store', async () => {
    const ref = await store.writeText('shared/a.txt', 'same');
    const other = openArtifactStore(store.location());
    expect(await other.readText(ref.uri)).toBe('same');
    expect(other.uriFor('shared/a.txt')).toBe(ref.uri);
  });

  it('streams a large file through and back with bounded memory', async () => {
    const chunk = Buffer.alloc(1 << 20);
    const writer = store.openWrite('big/weights.onnx.data');
    const hash = createHash('sha256');
    for (let i = 0; i < 40; i++) {
      chunk.fill(i);
      hash.update(chunk);
      await writer.write(Buffer.from(chunk));
    }
    const ref = await writer.close();
    expect(ref).toEqual({ uri: store.uriFor('big/weights.onnx.data'), bytes: 40 << 20, sha256: hash.digest('hex') });
    const read = createHash('sha256');
    for await (const c of await s.other().openRead(ref.uri)) read.update(c as Buffer);
    expect(read.digest('hex')).toBe(ref.sha256);
    const local = await s.other().localPath(ref.uri);
    expect(existsSync(local)).toBe(true);
    expect(sha256(readFileSync(local))).toBe(ref.sha256);
  });
}
