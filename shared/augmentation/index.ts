export * from './augment';
export * from './check';
export * from './lexicon';
export * from './rng';
export * from './similarity';
export * from './summarize';
export * from './threaded';
export { STRATEGIES } from './strategies';
