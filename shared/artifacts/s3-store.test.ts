import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { artifactStoreContract } from '../../test/artifact-store-contract';
import { tempDir } from '../../test/helpers';
import { findWeed, startS3Server, type RunningS3 } from '../../test/s3-server';
import { artifactStoreFromEnv } from './from-env';
import { S3ArtifactStore, parseS3Root, s3LocationFromEnv } from './s3-store';
import { ArtifactUnreadableError } from './store';

describe('S3 store settings', () => {
  it.each([
    ['s3://my-bucket', { bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/', { bucket: 'my-bucket', prefix: '' }],
    ['s3://my.bucket/pixel/prod/', { bucket: 'my.bucket', prefix: 'pixel/prod' }],
  ])('reads %s', (root, want) => {
    expect(parseS3Root(root)).toEqual(want);
  });

  it.each([
    ['s3://', /not a valid bucket name/],
    ['s3://Upper/x', /not a valid bucket name/],
    ['s3://bkt/../x', /invalid artifact key/],
    ['s3://bucket/a//b', /invalid artifact key/],
    ['gs://bucket/x', /not an s3:\/\/ URI/],
  ])('refuses %s, saying why', (root, why) => {
    expect(() => parseS3Root(root)).toThrow(why);
  });

  it('takes the endpoint, region and path style from the AWS environment, and checks them', () => {
    expect(s3LocationFromEnv('s3://bkt/p', '/tmp/c', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000', PIXEL_S3_FORCE_PATH_STYLE: 'true' })).toEqual({
      kind: 's3',
      bucket: 'bkt',
      prefix: 'p',
      cacheDir: '/tmp/c',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: true,
    });
    expect(s3LocationFromEnv('s3://bkt', '/tmp/c', { AWS_REGION: 'eu-west-1' })).toEqual({
      kind: 's3',
      bucket: 'bkt',
      prefix: '',
      cacheDir: '/tmp/c',
      region: 'eu-west-1',
    });
    expect(() => s3LocationFromEnv('s3://bkt', '/tmp/c', { AWS_ENDPOINT_URL: 'not a url' })).toThrow(/AWS_ENDPOINT_URL\(_S3\) is not a URL/);
    expect(() => s3LocationFromEnv('s3://bkt', '/tmp/c', { AWS_ENDPOINT_URL: 'ftp://x' })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => s3LocationFromEnv('s3://bkt', '/tmp/c', { PIXEL_S3_FORCE_PATH_STYLE: 'yes please' })).toThrow(
      /PIXEL_S3_FORCE_PATH_STYLE must be true or false/,
    );
  });

  it('is what PIXEL_ARTIFACTS=s3://... gives, with its cache from PIXEL_ARTIFACTS_CACHE', () => {
    const before = { ...process.env };
    try {
      process.env.PIXEL_ARTIFACTS = 's3://pixel-art/runs';
      process.env.PIXEL_ARTIFACTS_CACHE = '/tmp/pixel-cache-test';
      const store = artifactStoreFromEnv();
      expect(store).toBeInstanceOf(S3ArtifactStore);
      expect(store.uriFor('a/b.json')).toBe('s3://pixel-art/runs/a/b.json');
      expect(store.location()).toMatchObject({ kind: 's3', bucket: 'pixel-art', prefix: 'runs', cacheDir: '/tmp/pixel-cache-test' });
      process.env.PIXEL_ARTIFACTS = 'gs://elsewhere';
      expect(() => artifactStoreFromEnv()).toThrow(/PIXEL_ARTIFACTS: use a local folder, a file:\/\/ URI or s3:\/\/bucket\/prefix/);
    } finally {
      process.env = before;
    }
  });
});

/** The store's behaviour against a real S3-compatible server (SeaweedFS, built by `scripts/setup.sh --test`). */
describe('S3ArtifactStore against SeaweedFS', () => {
  const binary = findWeed();
  const t = tempDir('pixel-s3-');
  const bucket = 'pixel-store-test';
  let s3: RunningS3;
  let client: S3Client;
  let n = 0;
  const env = { ...process.env };

  /** A store under a prefix of its own, with a cache folder of its own. */
  const storeAt = (prefix: string, cache = `cache-${n++}`) =>
    new S3ArtifactStore(s3LocationFromEnv(`s3://${bucket}/${prefix}`, path.join(t.dir, cache), { ...process.env, ...s3.env }));

  beforeAll(async () => {
    if (!binary) throw new Error('SeaweedFS (weed) is not installed: run `bash scripts/setup.sh --test` or set PIXEL_WEED');
    s3 = await startS3Server({ binary, dir: path.join(t.dir, 'server') });
    // The SDK takes credentials from the environment, as a worker does.
    Object.assign(process.env, s3.env);
    await s3.createBucket(bucket);
    client = s3.client();
    // The server makes its first volumes on the first write; that wait belongs to no test.
    await storeAt('warm-up').writeText('ready.txt', 'ok');
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    process.env = env;
    t.cleanup();
  });

  describe('the store contract', () => {
    artifactStoreContract(async () => {
      const prefix = `contract/${n}`;
      const store = storeAt(prefix);
      return { store, other: () => storeAt(prefix) };
    });
  });

  it('uploads a large file in parts, holding a few parts in memory at most, and an abort leaves no upload behind', async () => {
    const store = storeAt('big');
    const writer = store.openWrite('weights.onnx.data');
    const chunk = Buffer.alloc(1 << 20, 7);
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 192; i++) {
      await writer.write(Buffer.from(chunk));
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    const ref = await writer.close();
    expect(ref.bytes).toBe(192 << 20);
    // 192 MiB went through with far less held at once (parts of 8 MiB, two in flight; the rest
    // of the peak is the test's own chunks, not yet collected).
    expect(peak).toBeLessThan(112 << 20);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big/weights.onnx.data' }));
    expect(head.ContentLength).toBe(192 << 20);
    // A multipart upload's ETag ends in its number of parts.
    expect(head.ETag).toMatch(/-24"?$/);

    const aborted = store.openWrite('half.bin');
    for (let i = 0; i < 20; i++) await aborted.write(Buffer.from(chunk));
    await aborted.abort();
    expect(await store.exists(store.uriFor('half.bin'))).toBe(false);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'big/' }));
    expect(uploads.Uploads ?? []).toEqual([]);
  }, 120_000);

  it('keeps fetched files in its cache until the object changes, and drops files whose objects are gone', async () => {
    const writer = storeAt('cached');
    const reader = storeAt('cached');
    await writer.writeText('model/config.json', '{"v":1}');
    await writer.writeText('model/old.bin', 'old');
    const dir = await reader.localPath(writer.uriFor('model'), { folder: true });
    const config = path.join(dir, 'config.json');
    const first = statSync(config);
    // A second fetch of the same object opens the cached copy.
    await reader.localPath(writer.uriFor('model'), { folder: true });
    expect(statSync(config).ino).toBe(first.ino);
    await writer.writeText('model/config.json', '{"v":2}');
    await writer.removePrefix('model/old.bin');
    await reader.localPath(writer.uriFor('model'), { folder: true });
    expect(readFileSync(config, 'utf8')).toBe('{"v":2}');
    expect(() => statSync(path.join(dir, 'old.bin'))).toThrow();
  });

  it('copies a shared folder once, announcing each file as it copies it', async () => {
    const store = storeAt('share');
    const dir = path.join(t.dir, 'base-model');
    mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    writeFileSync(path.join(dir, 'config.json'), '{}');
    writeFileSync(path.join(dir, 'onnx', 'model.onnx'), 'g');
    const copied: string[] = [];
    const uri = await store.shareFolder(
      dir,
      async () => 'models/base/abc',
      (name) => copied.push(name),
    );
    expect(copied).toEqual(['config.json', 'onnx/model.onnx']);
    expect(
      await store.shareFolder(
        dir,
        async () => 'models/base/abc',
        (name) => copied.push(name),
      ),
    ).toBe(uri);
    expect(copied).toHaveLength(2);
  });

  it('reads the worker’s own files by path, and no other bucket or scheme', async () => {
    const store = storeAt('paths');
    const local = path.join(t.dir, 'source.jsonl');
    writeFileSync(local, '{"a":1}\n');
    expect(await store.readText(local)).toBe('{"a":1}\n');
    expect(await store.localPath(`file://${local}`)).toBe(local);
    await expect(store.readText('s3://another-bucket/x.json')).rejects.toThrow(/outside the store's bucket pixel-store-test/);
    await expect(store.readText('gs://bucket/x.json')).rejects.toBeInstanceOf(ArtifactUnreadableError);
    await expect(store.readText(`s3://${bucket}/paths/../x`)).rejects.toThrow(/not a valid object key/);
  });

  it('says permission denied for credentials the server refuses, and not found for a missing bucket', async () => {
    const wrong = new S3ArtifactStore(s3LocationFromEnv(`s3://${bucket}/x`, path.join(t.dir, 'wrong'), { ...process.env, ...s3.env }));
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    try {
      const refused = new S3ArtifactStore(wrong.location() as never);
      await expect(refused.readText(refused.uriFor('a.txt'))).rejects.toThrow(/permission denied/);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
    const missing = new S3ArtifactStore(s3LocationFromEnv('s3://no-such-bucket-here/x', path.join(t.dir, 'missing'), { ...process.env, ...s3.env }));
    // A bucket that is not there is a setting to fix, not an artifact to make: every call says so.
    await expect(missing.readText(missing.uriFor('a.txt'))).rejects.toThrow(/the bucket does not exist/);
    await expect(missing.exists(missing.uriFor('a.txt'))).rejects.toThrow(/the bucket does not exist/);
    await expect(missing.stat(missing.uriFor('a.txt'))).rejects.toThrow(/the bucket does not exist/);
    await expect(missing.writeText('a.txt', 'x')).rejects.toThrow(/the bucket does not exist/);
  });
});
