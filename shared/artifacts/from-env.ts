import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalArtifactStore } from './local-store';
import type { ArtifactStore, StoreLocation } from './store';

/** `PIXEL_ARTIFACTS`, else `.pixel/artifacts` under the working directory. */
export function defaultArtifactRoot(): string {
  return path.resolve(process.env.PIXEL_ARTIFACTS ?? path.join('.pixel', 'artifacts'));
}

/**
 * The store a worker uses. Only the local filesystem exists today; an S3-compatible store
 * plugs in here, chosen by the scheme of `PIXEL_ARTIFACTS` (e.g. `s3://bucket/prefix`).
 */
export function artifactStoreFromEnv(): ArtifactStore {
  const root = process.env.PIXEL_ARTIFACTS;
  if (root && /^[a-z][a-z0-9+.-]*:\/\//i.test(root) && !root.startsWith('file:')) {
    throw new Error(`PIXEL_ARTIFACTS=${root}: only local paths and file:// URIs are supported so far`);
  }
  return new LocalArtifactStore(root?.startsWith('file:') ? fileURLToPath(root) : defaultArtifactRoot());
}

/** Opens the store at a location another thread or process described ({@link ArtifactStore.location}). */
export function openArtifactStore(location: StoreLocation): ArtifactStore {
  if (location.kind === 'local') return new LocalArtifactStore(location.root);
  throw new Error(`unknown artifact store kind ${(location as { kind: string }).kind}`);
}
