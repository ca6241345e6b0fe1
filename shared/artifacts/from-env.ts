import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalArtifactStore } from './local-store';
import { S3ArtifactStore } from './s3-store';
import type { ArtifactStore, StoreLocation } from './store';

/** `PIXEL_ARTIFACTS` (a folder, or a URI such as `s3://bucket/prefix` as it is), else `.pixel/artifacts` under the working directory. */
export function defaultArtifactRoot(): string {
  const root = process.env.PIXEL_ARTIFACTS;
  if (root && /^[a-z][a-z0-9+.-]*:\/\//i.test(root)) return root;
  return path.resolve(root ?? path.join('.pixel', 'artifacts'));
}

/** `PIXEL_ARTIFACTS_CACHE`, else `cache/artifacts` under `PIXEL_HOME` (`.pixel`): where an S3 store keeps its local copies. */
export function defaultArtifactCache(): string {
  return path.resolve(process.env.PIXEL_ARTIFACTS_CACHE || path.join(process.env.PIXEL_HOME ?? '.pixel', 'cache', 'artifacts'));
}

/**
 * The store a worker uses, by the form of `PIXEL_ARTIFACTS`: `s3://bucket/prefix` for an
 * S3-compatible bucket (settings from the AWS environment, see {@link S3ArtifactStore}), else a
 * local folder (a path or `file://` URI; `.pixel/artifacts` by default).
 */
export function artifactStoreFromEnv(): ArtifactStore {
  return artifactStoreAt(defaultArtifactRoot(), 'PIXEL_ARTIFACTS');
}

/** The store at a root a command was given (`--artifacts`): `s3://bucket/prefix`, a `file://` URI or a folder. */
export function artifactStoreAt(root: string, what = 'the artifact store'): ArtifactStore {
  if (root.startsWith('s3://')) return S3ArtifactStore.fromEnv(root, defaultArtifactCache());
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(root) && !root.startsWith('file:')) {
    throw new Error(`${what}: use a local folder, a file:// URI or s3://bucket/prefix`);
  }
  return new LocalArtifactStore(root.startsWith('file:') ? fileURLToPath(root) : root);
}

/** Opens the store at a location another thread or process described ({@link ArtifactStore.location}). */
export function openArtifactStore(location: StoreLocation): ArtifactStore {
  if (location.kind === 'local') return new LocalArtifactStore(location.root);
  if (location.kind === 's3') return new S3ArtifactStore(location);
  throw new Error(`unknown artifact store kind ${(location as { kind: string }).kind}`);
}
