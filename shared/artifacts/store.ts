import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { FileRef } from '../contracts';

/** Raised when an artifact or source does not exist. */
export class ArtifactNotFoundError extends Error {
  constructor(
    readonly uri: string,
    cause?: unknown,
  ) {
    super(`not found: ${uri}`, { cause });
    this.name = 'ArtifactNotFoundError';
  }
}

/** Raised when an artifact exists but cannot be read (permissions, a directory, ...). */
export class ArtifactUnreadableError extends Error {
  constructor(
    readonly uri: string,
    reason: string,
    cause?: unknown,
  ) {
    super(`cannot read ${uri}: ${reason}`, { cause });
    this.name = 'ArtifactUnreadableError';
  }
}

/** The file a shared folder's copy ends with ({@link ArtifactStore.shareFolder}): its files, sizes and hashes. */
export const SHARED_MARKER = '.pixel-shared.json';

/** Throws unless `key` is a relative `/`-separated path without `..` or empty segments. */
export function assertArtifactKey(key: string): void {
  if (key.length === 0 || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '')) {
    throw new Error(`invalid artifact key "${key}": use a relative path without '..' or empty segments`);
  }
}

/** A file being written into the store; it becomes visible only when {@link close} resolves. */
export interface ArtifactWriter {
  readonly uri: string;
  /** Appends text (as UTF-8) or bytes. Resolves once the data is buffered or flushed. */
  write(data: string | Buffer): Promise<void>;
  /** Flushes, makes the file visible atomically and returns its reference (size and sha256). */
  close(): Promise<FileRef>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

/** Writes a whole text through a writer: closed when written, aborted (nothing left behind) when not. */
export async function writeWhole(writer: ArtifactWriter, text: string): Promise<FileRef> {
  try {
    await writer.write(text);
    return await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Pieces written to a writer, as one buffer (text as UTF-8). */
export function joinChunks(pieces: readonly (string | Buffer)[]): Buffer {
  return pieces.every((p) => typeof p === 'string')
    ? Buffer.from(pieces.join(''), 'utf8')
    : Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}

/** Where a store keeps its artifacts, as plain data: enough for a worker thread to open the same store. */
export const StoreLocationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), root: z.string().min(1) }).strict(),
  z
    .object({
      kind: z.literal('s3'),
      bucket: z.string().min(1),
      /** Keys live under this (no leading or trailing `/`; empty for the bucket's root). */
      prefix: z.string(),
      /** The local read-through cache (and workspaces) of this process. */
      cacheDir: z.string().min(1),
      /** The server's URL when it is not AWS's (credentials always come from the AWS environment). */
      endpoint: z.string().optional(),
      region: z.string().optional(),
      forcePathStyle: z.boolean().optional(),
    })
    .strict(),
]);
export type StoreLocation = z.infer<typeof StoreLocationSchema>;

/** A local folder whose files become artifacts of the store under one key. */
export interface ArtifactWorkspace {
  /** The folder to write into, by path. */
  readonly dir: string;
  /** The URI of the folder's key in the store. */
  readonly uri: string;
  /** Makes a file written under {@link dir} (or, without a path, every file there) visible in the store; returns its URI. */
  publish(file?: string): Promise<string>;
}

/**
 * Where stages keep what they produce. Workflows only ever see URIs from it.
 *
 * Implementations must make each file appear atomically (no reader sees half a file), so a
 * stage can write its manifest last and treat the manifest's presence as "complete".
 * Keys are `/`-separated relative paths (`datasets/prepared/<key>/train-00000.jsonl`).
 */
export interface ArtifactStore {
  /** The URI a key has in this store. */
  uriFor(key: string): string;
  /** Whether the artifact (or, for local stores, a plain path) exists. */
  exists(uri: string): Promise<boolean>;
  /** Size of an artifact; throws {@link ArtifactNotFoundError} or {@link ArtifactUnreadableError}. */
  stat(uri: string): Promise<{ bytes: number }>;
  /** Streams an artifact's bytes; errors as {@link stat}. */
  openRead(uri: string): Promise<Readable>;
  readText(uri: string): Promise<string>;
  /** Writes a whole small file atomically. */
  writeText(key: string, text: string): Promise<FileRef>;
  /** Starts a streamed write of a (possibly large) file. */
  openWrite(key: string): ArtifactWriter;
  /** Removes everything under a key prefix (used to clean up an aborted stage). */
  removePrefix(prefix: string): Promise<void>;
  /**
   * A local path of the artifact at `uri` (with `folder`, of every file under it), for code that
   * must open files by path: onnxruntime, worker threads, model folders. A local store returns
   * the path itself; a remote one fetches into its local cache first. Throws
   * {@link ArtifactNotFoundError} when nothing is there.
   */
  localPath(uri: string, options?: { folder?: boolean }): Promise<string>;
  /**
   * A local folder for writing the files of `key` by path (checkpoints, an exported model), whose
   * `publish` makes them artifacts of the store. For a local store the folder is the artifact's
   * own place and publishing only names its URI.
   */
  workspace(key: string): Promise<ArtifactWorkspace>;
  /**
   * A URI for a folder on this machine that stages on other workers must read too (the base
   * model a worker installed). A local store shares its disk with every worker and names the
   * folder where it is; a remote store copies the files once under the key `keyOf()` gives (a
   * content hash), with {@link SHARED_MARKER} written last, calling `onFile` before each file
   * (a long copy heartbeats through it).
   */
  shareFolder(dir: string, keyOf: () => Promise<string>, onFile?: (name: string) => void): Promise<string>;
  /** Where this store is, so a worker thread can open it too ({@link openArtifactStore}). */
  location(): StoreLocation;
}
