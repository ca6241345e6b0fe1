import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FileRef } from '../contracts';
import {
  ArtifactNotFoundError,
  ArtifactUnreadableError,
  assertArtifactKey,
  joinChunks,
  writeWhole,
  type ArtifactStore,
  type ArtifactWorkspace,
  type ArtifactWriter,
  type StoreLocation,
} from './store';

const FLUSH_BYTES = 1 << 20;

/**
 * An {@link ArtifactStore} on the local filesystem, under one root folder. URIs are `file://`
 * URIs; reads also accept plain paths (absolute, or relative to the process's working
 * directory) so a local source file can be named directly.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    // Kernel file systems are no place for artifacts, and Node's recursive mkdir never returns under /proc.
    if (/^\/(proc|sys|dev)(\/|$)/.test(this.root)) throw new Error(`the artifact store cannot live under /${this.root.split('/')[1]} (${this.root})`);
  }

  uriFor(key: string): string {
    assertArtifactKey(key);
    return pathToFileURL(path.join(this.root, key)).href;
  }

  /** The filesystem path of a URI or plain path. */
  pathOf(uriOrPath: string): string {
    if (uriOrPath.startsWith('file:')) return fileURLToPath(uriOrPath);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uriOrPath)) {
      throw new ArtifactUnreadableError(uriOrPath, 'the local artifact store reads only file:// URIs and paths');
    }
    return path.resolve(uriOrPath);
  }

  async exists(uri: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(uri));
      return true;
    } catch {
      return false;
    }
  }

  private async statOf(uri: string): Promise<{ file: string; st: import('node:fs').Stats }> {
    const file = this.pathOf(uri);
    try {
      return { file, st: await fs.stat(file) };
    } catch (err) {
      throw translate(uri, err);
    }
  }

  async stat(uri: string): Promise<{ bytes: number }> {
    const { file, st } = await this.statOf(uri);
    if (!st.isFile()) throw new ArtifactUnreadableError(uri, 'it is not a regular file');
    try {
      await fs.access(file, fs.constants.R_OK);
    } catch (err) {
      throw translate(uri, err);
    }
    return { bytes: st.size };
  }

  async openRead(uri: string): Promise<Readable> {
    await this.stat(uri);
    return createReadStream(this.pathOf(uri), { highWaterMark: 1 << 20 });
  }

  async readText(uri: string): Promise<string> {
    await this.stat(uri);
    return fs.readFile(this.pathOf(uri), 'utf8');
  }

  writeText(key: string, text: string): Promise<FileRef> {
    return writeWhole(this.openWrite(key), text);
  }

  openWrite(key: string): ArtifactWriter {
    const uri = this.uriFor(key);
    return new LocalWriter(uri, path.join(this.root, key));
  }

  async removePrefix(prefix: string): Promise<void> {
    assertArtifactKey(prefix);
    await fs.rm(path.join(this.root, prefix), { recursive: true, force: true });
  }

  async localPath(uri: string, options: { folder?: boolean } = {}): Promise<string> {
    const { file, st } = await this.statOf(uri);
    if (options.folder && !st.isDirectory()) throw new ArtifactUnreadableError(uri, 'it is not a folder');
    if (!options.folder && !st.isFile()) throw new ArtifactUnreadableError(uri, 'it is not a regular file');
    return file;
  }

  async workspace(key: string): Promise<ArtifactWorkspace> {
    const dir = path.join(this.root, key);
    const uri = this.uriFor(key);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return {
      dir,
      uri,
      publish: async (file?: string) => {
        if (file === undefined) return uri;
        const rel = path.relative(dir, path.resolve(file));
        if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${file} is not inside the workspace ${dir}`);
        return pathToFileURL(path.resolve(file)).href;
      },
    };
  }

  async shareFolder(dir: string): Promise<string> {
    const st = await fs.stat(dir).catch((err: unknown) => {
      throw translate(dir, err);
    });
    if (!st.isDirectory()) throw new ArtifactUnreadableError(dir, 'it is not a folder');
    return pathToFileURL(path.resolve(dir)).href;
  }

  location(): StoreLocation {
    return { kind: 'local', root: this.root };
  }
}

function translate(uri: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new ArtifactNotFoundError(uri, err);
  if (code === 'EACCES' || code === 'EPERM') return new ArtifactUnreadableError(uri, 'permission denied', err);
  if (code === 'EISDIR') return new ArtifactUnreadableError(uri, 'it is a directory', err);
  return new ArtifactUnreadableError(uri, code ?? String(err), err);
}

/** Writes to a temporary sibling, hashing as it goes, and renames into place on close. */
class LocalWriter implements ArtifactWriter {
  private readonly hash = createHash('sha256');
  private readonly tmp: string;
  private stream: WriteStream | undefined;
  private pending: (string | Buffer)[] = [];
  private pendingBytes = 0;
  private bytes = 0;
  private failure: Error | undefined;
  private done = false;

  constructor(
    readonly uri: string,
    private readonly target: string,
  ) {
    this.tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  private async open(): Promise<WriteStream> {
    if (this.stream) return this.stream;
    // Owner-only: artifacts hold raw text (prepared shards keep unredacted PII, the quarantine
    // keeps lines as they came), so other users of the machine may not read them.
    await fs.mkdir(path.dirname(this.target), { recursive: true, mode: 0o700 });
    const stream = createWriteStream(this.tmp, { mode: 0o600 });
    stream.on('error', (err) => {
      this.failure = err;
    });
    this.stream = stream;
    return stream;
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.done) throw new Error(`write after close: ${this.uri}`);
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    const stream = await this.open();
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    const chunk = joinChunks(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          stream.off('error', onError);
          resolve();
        };
        const onError = (err: Error) => {
          stream.off('drain', onDrain);
          reject(err);
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
      });
    }
  }

  async close(): Promise<FileRef> {
    await this.flush();
    this.done = true;
    const stream = await this.open();
    if (this.failure) throw this.failure;
    // finished() rejects on any error up to the close, including one from the final flush
    // that end()'s callback would not report (a full disk shows up only here).
    stream.end();
    await finished(stream);
    const late = this.failure as Error | undefined; // set by the 'error' listener meanwhile
    if (late) throw late;
    await fs.rename(this.tmp, this.target);
    return { uri: this.uri, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  async abort(): Promise<void> {
    this.done = true;
    this.pending = [];
    if (this.stream) {
      const stream = this.stream;
      if (!stream.closed) {
        await new Promise<void>((resolve) => {
          stream.once('close', () => resolve());
          stream.destroy();
        });
      }
    }
    await fs.rm(this.tmp, { force: true });
  }
}
