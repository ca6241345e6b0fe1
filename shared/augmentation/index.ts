export * from './augment';
export * from './check';
export * from './lexicon';
export * from './similarity';
export * from './summarize';
export * from './augment-in-thread';
export { STRATEGIES } from './strategies';
