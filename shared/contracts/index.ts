export * from './errors';
export * from './pipeline';
export * from './prepare';
export * from './record';
export * from './search-attributes';
export * from './task-queues';
export * from './validation';
export * from './safety';
