export * from './local-store';
export * from './store';
export { artifactStoreFromEnv, defaultArtifactRoot } from './from-env';
