import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  PutObjectCommand,
  UploadPartCommand,
  paginateListObjectsV2,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { FileRef } from '../contracts';
import { mapInOrder } from '../util/pool';
import { isTemporaryName, replaceFile } from '../util/files';
import { LocalArtifactStore } from './local-store';
import {
  ArtifactNotFoundError,
  ArtifactUnreadableError,
  SHARED_MARKER,
  assertArtifactKey,
  joinChunks,
  writeWhole,
  type ArtifactStore,
  type ArtifactWorkspace,
  type ArtifactWriter,
  type StoreLocation,
} from './store';

type S3Location = Extract<StoreLocation, { kind: 's3' }>;

/** Parts of a multipart upload (S3 wants at least 5 MiB but for the last); a writer holds at most `UPLOAD_QUEUE + 1` in memory. */
export const PART_BYTES = 8 * 1024 * 1024;
const UPLOAD_QUEUE = 2;
/** Files of a folder fetched at once. */
const FETCHES = 4;

/** What the cache knows of a local copy: the object's ETag and size (and, for a published workspace file, its mtime then). */
interface CacheMeta {
  etag: string;
  bytes: number;
  mtimeMs?: number;
}

/** Bucket names as S3 allows them (3-63 lowercase letters, digits, dots, hyphens; starting and ending with a letter or digit). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Splits `s3://bucket/prefix` into its bucket and key prefix; throws a message naming what is
 * wrong. The prefix may be empty (the bucket's root).
 */
export function parseS3Root(root: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]*)\/?(.*)$/.exec(root);
  if (!m) throw new Error(`${root} is not an s3:// URI (use s3://bucket or s3://bucket/prefix)`);
  const bucket = m[1] as string;
  if (!BUCKET.test(bucket)) throw new Error(`${root}: "${bucket}" is not a valid bucket name`);
  const prefix = (m[2] as string).replace(/\/+$/, '');
  if (prefix !== '') assertArtifactKey(prefix);
  return { bucket, prefix };
}

/**
 * The S3 store's settings from the standard AWS environment: `AWS_ENDPOINT_URL_S3` or
 * `AWS_ENDPOINT_URL` for a server other than AWS, `AWS_REGION` (default `us-east-1` with such a
 * server), and `PIXEL_S3_FORCE_PATH_STYLE=true` for servers that want the bucket in the path
 * (MinIO, SeaweedFS). Credentials are the SDK's usual chain (environment, profile, instance role).
 */
export function s3LocationFromEnv(root: string, cacheDir: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  const { bucket, prefix } = parseS3Root(root);
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`AWS_ENDPOINT_URL(_S3) is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`AWS_ENDPOINT_URL(_S3) must be an http:// or https:// URL`);
  }
  const pathStyle = env.PIXEL_S3_FORCE_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== '' && !/^(true|false|1|0)$/.test(pathStyle)) {
    throw new Error(`PIXEL_S3_FORCE_PATH_STYLE must be true or false`);
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined);
  return {
    kind: 's3',
    bucket,
    prefix,
    cacheDir: path.resolve(cacheDir),
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(pathStyle === 'true' || pathStyle === '1' ? { forcePathStyle: true } : {}),
  };
}

function clientOf(location: S3Location): S3Client {
  const config: S3ClientConfig = {
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    ...(location.region ? { region: location.region } : {}),
    ...(location.forcePathStyle ? { forcePathStyle: true } : {}),
  };
  // Servers other than AWS's may not know the SDK's default request checksums (CRC32 trailers
  // in aws-chunked bodies); there, checksums are sent where the API requires them. The writer
  // hashes every file itself either way.
  if (location.endpoint) {
    if (!process.env.AWS_REQUEST_CHECKSUM_CALCULATION) config.requestChecksumCalculation = 'WHEN_REQUIRED';
    if (!process.env.AWS_RESPONSE_CHECKSUM_VALIDATION) config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  return new S3Client(config);
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
const nameOf = (err: unknown) => (err as { name?: string } | undefined)?.name;

/** An S3 error as the store's: not found, unreadable, or (network, throttling, server errors) as it was, for a retry. */
function translate(uri: string, err: unknown): Error {
  const name = nameOf(err);
  if (name === 'NoSuchBucket') return new ArtifactUnreadableError(uri, 'the bucket does not exist', err);
  if (statusOf(err) === 404 || name === 'NotFound' || name === 'NoSuchKey') return new ArtifactNotFoundError(uri, err);
  if (statusOf(err) === 403 || name === 'AccessDenied' || name === 'Forbidden') return new ArtifactUnreadableError(uri, 'permission denied', err);
  return err instanceof Error ? err : new Error(String(err));
}

const isMissing = (err: unknown) => err instanceof ArtifactNotFoundError;

/**
 * Writes a cache file through a temporary sibling ({@link replaceFile}), so another process using
 * the same cache never opens half of it; owner-only, as artifacts hold raw text.
 */
async function writeCacheFile(file: string, data: Readable | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await replaceFile(file, 'the artifact cache file', (target) =>
    pipeline(typeof data === 'string' ? [data] : data, createWriteStream(target.path, { flags: target.flags, mode: 0o600 })),
  );
}

/** Every file under a folder, as paths relative to it (`/`-separated). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      // Skipping a fetch still being written (replaceFile's temporary names).
      else if (e.isFile() && !isTemporaryName(e.name)) out.push(child);
    }
  };
  await walk('');
  return out.sort();
}

/**
 * An {@link ArtifactStore} in an S3-compatible bucket, under a key prefix: `s3://bucket/prefix/<key>`
 * URIs. Objects appear whole when their upload completes (a single PUT, or a multipart upload's
 * completion), so manifests written last mean "complete" as in the local store. Large files are
 * streamed in parts with bounded memory.
 *
 * Files that must be opened by path (onnxruntime's graphs, model folders, training shards) are
 * fetched into a local read-through cache that mirrors the bucket's keys, and refetched when the
 * object's ETag changes; workspaces are folders of that cache, so what a worker publishes it
 * does not download again. Reads of plain paths and `file://` URIs go to the local disk (a
 * worker's own data folder), as the local store's do.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly cacheDir: string;
  private readonly client: S3Client;
  private readonly disk: LocalArtifactStore;
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(private readonly where: S3Location) {
    this.bucket = where.bucket;
    this.prefix = where.prefix;
    this.cacheDir = path.resolve(where.cacheDir);
    this.client = clientOf(where);
    this.disk = new LocalArtifactStore(this.cacheDir);
  }

  /** The store at `s3://bucket/prefix`, configured from the AWS environment ({@link s3LocationFromEnv}). */
  static fromEnv(root: string, cacheDir: string): S3ArtifactStore {
    return new S3ArtifactStore(s3LocationFromEnv(root, cacheDir));
  }

  private objectKey(key: string): string {
    assertArtifactKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  uriFor(key: string): string {
    return this.objectUri(this.objectKey(key));
  }

  private objectUri(objectKey: string): string {
    return `s3://${this.bucket}/${objectKey}`;
  }

  /** The object key of an `s3://` URI in this store's bucket, or null for a local path or `file://` URI. */
  private keyOf(uri: string): string | null {
    if (!uri.startsWith('s3://')) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file:')) {
        throw new ArtifactUnreadableError(uri, 'the S3 artifact store reads s3:// URIs, file:// URIs and paths');
      }
      return null;
    }
    const rest = uri.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    // Like the local store's source folders: a URI from a workflow's input may name no other bucket.
    if (bucket !== this.bucket) throw new ArtifactUnreadableError(uri, `it is outside the store's bucket ${this.bucket}`);
    try {
      assertArtifactKey(key);
    } catch {
      throw new ArtifactUnreadableError(uri, 'it is not a valid object key');
    }
    return key;
  }

  private cachePath(objectKey: string): string {
    return path.join(this.cacheDir, this.bucket, ...objectKey.split('/'));
  }

  /** Beside the cached files, not among them: a model folder's listing must hold only its files. */
  private metaPath(objectKey: string): string {
    return `${path.join(this.cacheDir, '.meta', this.bucket, ...objectKey.split('/'))}.json`;
  }

  private async readMeta(objectKey: string): Promise<CacheMeta | undefined> {
    try {
      return JSON.parse(await fs.readFile(this.metaPath(objectKey), 'utf8')) as CacheMeta;
    } catch {
      return undefined;
    }
  }

  private async head(uri: string, key: string): Promise<{ etag: string; bytes: number }> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { etag: out.ETag ?? '', bytes: out.ContentLength ?? 0 };
    } catch (err) {
      throw translate(uri, err);
    }
  }

  /** Whether any object lies under `key/` (a "folder"). */
  private async hasChildren(uri: string, key: string): Promise<boolean> {
    try {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${key}/`, MaxKeys: 1 }));
      return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
    } catch (err) {
      throw translate(uri, err);
    }
  }

  /** Every object under `key/`: its key, ETag and size. */
  private async listUnder(uri: string, key: string): Promise<{ key: string; etag: string; bytes: number }[]> {
    const out: { key: string; etag: string; bytes: number }[] = [];
    try {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: `${key}/` }))
        for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, etag: o.ETag ?? '', bytes: o.Size ?? 0 });
    } catch (err) {
      throw translate(uri, err);
    }
    return out;
  }

  async exists(uri: string): Promise<boolean> {
    const key = this.keyOf(uri);
    if (key === null) return this.disk.exists(uri);
    try {
      await this.head(uri, key);
      return true;
    } catch (err) {
      if (!isMissing(err)) throw err;
      return this.hasChildren(uri, key);
    }
  }

  /** The object's ETag and size; a "folder" is unreadable as a file. */
  private async statObject(uri: string, key: string): Promise<{ etag: string; bytes: number }> {
    try {
      return await this.head(uri, key);
    } catch (err) {
      if (isMissing(err) && (await this.hasChildren(uri, key))) throw new ArtifactUnreadableError(uri, 'it is not a regular file');
      throw err;
    }
  }

  async stat(uri: string): Promise<{ bytes: number }> {
    const key = this.keyOf(uri);
    if (key === null) return this.disk.stat(uri);
    return { bytes: (await this.statObject(uri, key)).bytes };
  }

  private async getObject(uri: string, key: string): Promise<{ body: Readable; etag: string; bytes: number }> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { body: out.Body as Readable, etag: out.ETag ?? '', bytes: out.ContentLength ?? 0 };
    } catch (err) {
      const e = translate(uri, err);
      if (isMissing(e) && (await this.hasChildren(uri, key))) throw new ArtifactUnreadableError(uri, 'it is not a regular file');
      throw e;
    }
  }

  async openRead(uri: string): Promise<Readable> {
    const key = this.keyOf(uri);
    if (key === null) return this.disk.openRead(uri);
    return (await this.getObject(uri, key)).body;
  }

  async readText(uri: string): Promise<string> {
    const key = this.keyOf(uri);
    if (key === null) return this.disk.readText(uri);
    const { body } = await this.getObject(uri, key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  writeText(key: string, text: string): Promise<FileRef> {
    return writeWhole(this.openWrite(key), text);
  }

  openWrite(key: string): ArtifactWriter {
    const objectKey = this.objectKey(key);
    // A cached copy of an object this replaces is refetched: the cache compares ETags on every localPath.
    return new S3Writer(this.client, this.bucket, objectKey);
  }

  async removePrefix(prefix: string): Promise<void> {
    const key = this.objectKey(prefix);
    const uri = this.objectUri(key);
    const keys = (await this.listUnder(uri, key)).map((o) => o.key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const out = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        const failed = out.Errors ?? [];
        if (failed.length > 0) throw new Error(`could not remove ${failed.length} objects under ${uri}: ${failed[0]?.Code ?? 'error'}`);
      }
    } catch (err) {
      throw translate(uri, err);
    }
    await fs.rm(this.cachePath(key), { recursive: true, force: true });
    await fs.rm(this.metaPath(key), { force: true });
    await fs.rm(this.metaPath(key).replace(/\.json$/, ''), { recursive: true, force: true });
  }

  /**
   * The cached copy of one object, fetched when the cache has none or an older one (its ETag or
   * size differs). Concurrent requests for one file share a fetch.
   */
  private fetch(uri: string, key: string, known?: { etag: string; bytes: number }): Promise<string> {
    const file = this.cachePath(key);
    const running = this.fetching.get(file);
    if (running) return running;
    const work = (async () => {
      const want = known ?? (await this.statObject(uri, key));
      const meta = await this.readMeta(key);
      if (meta && meta.etag === want.etag && meta.bytes === want.bytes) {
        const st = await fs.stat(file).catch(() => undefined);
        if (st?.isFile() && st.size === want.bytes) return file;
      }
      const { body, etag, bytes } = await this.getObject(uri, key);
      await writeCacheFile(file, body);
      await writeCacheFile(this.metaPath(key), JSON.stringify({ etag, bytes } satisfies CacheMeta));
      return file;
    })();
    this.fetching.set(file, work);
    const done = () => this.fetching.delete(file);
    work.then(done, done);
    return work;
  }

  async localPath(uri: string, options: { folder?: boolean } = {}): Promise<string> {
    const key = this.keyOf(uri);
    if (key === null) return this.disk.localPath(uri, options);
    if (!options.folder) return this.fetch(uri, key);
    const objects = await this.listUnder(uri, key);
    if (objects.length === 0) {
      await this.head(uri, key); // not found, unless it is a file
      throw new ArtifactUnreadableError(uri, 'it is not a folder');
    }
    const dir = this.cachePath(key);
    await mapInOrder(objects, FETCHES, (o) => this.fetch(this.objectUri(o.key), o.key, o));
    // A cached file whose object is gone (its key was removed or rewritten without it) leaves the
    // folder; files never published (a workspace's work in progress) have no meta and stay.
    const listed = new Set(objects.map((o) => o.key));
    for (const rel of await filesUnder(dir)) {
      const child = `${key}/${rel}`;
      if (!listed.has(child) && (await this.readMeta(child))) {
        await fs.rm(this.cachePath(child), { force: true });
        await fs.rm(this.metaPath(child), { force: true });
      }
    }
    return dir;
  }

  /** Uploads one local file to an object (in parts when large) and records it in the cache as that object's copy. */
  private async publishFile(file: string, key: string): Promise<void> {
    const st = await fs.stat(file);
    const meta = await this.readMeta(key);
    if (meta && meta.bytes === st.size && meta.mtimeMs === st.mtimeMs) return; // published as it is
    const { etag } = await this.upload(file, key);
    await writeCacheFile(this.metaPath(key), JSON.stringify({ etag, bytes: st.size, mtimeMs: st.mtimeMs } satisfies CacheMeta));
  }

  /** Streams a local file to an object; its reference and the object's ETag. */
  private async upload(file: string, objectKey: string): Promise<{ ref: FileRef; etag: string }> {
    const writer = new S3Writer(this.client, this.bucket, objectKey);
    try {
      for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) await writer.write(chunk as Buffer);
      const ref = await writer.close();
      return { ref, etag: writer.etag };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** Copies the folder's files under the key once; `SHARED_MARKER`, written last, says the copy is whole. */
  async shareFolder(dir: string, keyOf: () => Promise<string>, onFile?: (name: string) => void): Promise<string> {
    const key = await keyOf();
    const objectKey = this.objectKey(key);
    const uri = this.uriFor(key);
    if (await this.exists(this.uriFor(`${key}/${SHARED_MARKER}`))) return uri;
    const files: Record<string, FileRef> = {};
    for (const rel of await filesUnder(dir)) {
      onFile?.(rel);
      files[rel] = (await this.upload(path.join(dir, rel), `${objectKey}/${rel}`)).ref;
    }
    await this.writeText(`${key}/${SHARED_MARKER}`, `${JSON.stringify({ kind: 'pixel.shared-folder', files }, null, 2)}\n`);
    return uri;
  }

  async workspace(key: string): Promise<ArtifactWorkspace> {
    const objectKey = this.objectKey(key);
    const dir = this.cachePath(objectKey);
    const uri = this.uriFor(key);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return {
      dir,
      uri,
      publish: async (file?: string) => {
        if (file === undefined) {
          for (const rel of await filesUnder(dir)) await this.publishFile(path.join(dir, rel), `${objectKey}/${rel}`);
          return uri;
        }
        const rel = path.relative(dir, path.resolve(file));
        if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${file} is not inside the workspace ${dir}`);
        const child = `${objectKey}/${rel.split(path.sep).join('/')}`;
        await this.publishFile(path.resolve(file), child);
        return this.objectUri(child);
      },
    };
  }

  location(): StoreLocation {
    return { ...this.where, cacheDir: this.cacheDir };
  }
}

/**
 * Streams a file into the bucket, hashing as it goes: a file smaller than a part goes up in one
 * PUT on {@link close}; a larger one as a multipart upload whose parts are sent while it is
 * written, at most {@link UPLOAD_QUEUE} at once (so memory stays bounded whatever the size). The
 * object appears only when the upload completes; {@link abort} (or a failed close) aborts the
 * multipart upload, and the server drops the parts sent.
 */
class S3Writer implements ArtifactWriter {
  private readonly hash = createHash('sha256');
  private pending: (string | Buffer)[] = [];
  private pendingBytes = 0;
  private bytes = 0;
  private done = false;
  private uploadId: string | undefined;
  private readonly parts: { PartNumber: number; ETag: string }[] = [];
  private partsStarted = 0;
  private readonly sending = new Set<Promise<void>>();
  private failure: Error | undefined;
  readonly uri: string;
  /** The object's ETag once {@link close} resolves. */
  etag = '';

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
  ) {
    this.uri = `s3://${bucket}/${key}`;
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.done) throw new Error(`write after close: ${this.uri}`);
    if (this.failure) throw this.failure;
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes >= PART_BYTES) await this.sendPart(this.take());
  }

  /** What was written since the last part, as one buffer, hashed. */
  private take(): Buffer {
    const chunk = joinChunks(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return chunk;
  }

  private async sendPart(body: Buffer): Promise<void> {
    try {
      if (this.uploadId === undefined) {
        const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }));
        if (!out.UploadId) throw new Error(`the server started no upload for ${this.uri}`);
        this.uploadId = out.UploadId;
      }
    } catch (err) {
      throw (this.failure = translate(this.uri, err));
    }
    const PartNumber = ++this.partsStarted;
    const sent: Promise<void> = this.client
      .send(
        new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: body, ContentLength: body.length }),
      )
      .then(
        (out) => void this.parts.push({ PartNumber, ETag: out.ETag ?? '' }),
        (err: unknown) => void (this.failure ??= translate(this.uri, err)),
      )
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
    // Back-pressure: the writer waits while the queue of parts in flight is full.
    while (this.sending.size >= UPLOAD_QUEUE) await Promise.race(this.sending);
    if (this.failure) throw this.failure;
  }

  async close(): Promise<FileRef> {
    if (this.done) throw new Error(`close after close: ${this.uri}`);
    this.done = true;
    try {
      const rest = this.take();
      if (this.uploadId === undefined) {
        const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: rest, ContentLength: rest.length }));
        this.etag = out.ETag ?? '';
      } else {
        if (rest.length > 0) await this.sendPart(rest);
        await Promise.all(this.sending);
        if (this.failure) throw this.failure;
        const Parts = [...this.parts].sort((a, b) => a.PartNumber - b.PartNumber);
        const out = await this.client.send(
          new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts } }),
        );
        this.etag = out.ETag ?? '';
      }
    } catch (err) {
      await this.cancel();
      throw translate(this.uri, err); // the store's own errors pass through as they are
    }
    return { uri: this.uri, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  async abort(): Promise<void> {
    this.done = true;
    this.pending = [];
    await this.cancel();
  }

  /** Waits for the parts in flight, then aborts the multipart upload (if one was started) so the server drops them. */
  private async cancel(): Promise<void> {
    await Promise.allSettled([...this.sending]);
    const uploadId = this.uploadId;
    this.uploadId = undefined;
    if (uploadId === undefined) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: uploadId }));
    } catch {
      // The bucket's lifecycle rule for incomplete uploads is the backstop; the object never appeared.
    }
  }
}
