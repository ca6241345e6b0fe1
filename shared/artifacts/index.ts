export * from './local-store';
export * from './s3-store';
export * from './store';
export { artifactStoreAt, artifactStoreFromEnv, defaultArtifactCache, defaultArtifactRoot, openArtifactStore } from './from-env';
