export * from './augment';
export * from './check';
export * from './lexicon';
export * from '../util/rng';
export * from './similarity';
export * from './summarize';
export * from './threaded';
export { STRATEGIES } from './strategies';
