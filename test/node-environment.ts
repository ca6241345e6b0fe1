// Jest's node environment with the host's typed-array and ArrayBuffer constructors. Native
// addons (onnxruntime-node) create their arrays in the host realm, and libraries loaded in the
// test realm check them with instanceof; sharing the constructors makes both agree.
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment } from 'jest-environment-node';

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

export default class PixelNodeEnvironment extends TestEnvironment {
  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const host = globalThis as unknown as Record<string, unknown>;
    const sandbox = this.global as unknown as Record<string, unknown>;
    for (const name of SHARED) if (host[name]) sandbox[name] = host[name];
  }
}
