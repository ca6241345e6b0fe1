export * from './local-store';
export * from './store';
export { artifactStoreFromEnv, defaultArtifactRoot, openArtifactStore } from './from-env';
