import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { ModelRegistry } from './model-registry';

describe('ModelRegistry', () => {
  let t: ReturnType<typeof tempDir>;
  let registry: ModelRegistry;
  beforeEach(() => {
    t = tempDir();
    registry = new ModelRegistry(new LocalArtifactStore(path.join(t.dir, 'store')));
  });
  afterEach(() => t.cleanup());

  const entry = (version: string, modelUri = `file:///models/${version}`) => ({ version, modelUri, createdAt: '2026-11-26T00:00:00Z' });

  it('has no current model until one is promoted, then names it', async () => {
    expect(await registry.current()).toBeNull();
    await registry.register(entry('v1'));
    expect(await registry.current()).toBeNull();
    await registry.promote('v1');
    expect((await registry.current())?.version).toBe('v1');
    await registry.register(entry('v2'));
    await registry.promote('v2');
    expect((await registry.current())?.modelUri).toBe('file:///models/v2');
  });

  it('refuses to promote an unknown version or to reuse a version for another model, leaving current unchanged', async () => {
    await registry.register(entry('v1'));
    await registry.promote('v1');
    await expect(registry.promote('v9')).rejects.toThrow(/not registered/);
    await expect(registry.register(entry('v1', 'file:///elsewhere'))).rejects.toThrow(/already registered/);
    await expect(registry.register({ ...entry('bad version'), version: 'bad version' })).rejects.toThrow(/letters, digits/);
    expect((await registry.current())?.version).toBe('v1');
  });

  it('rolls back to the version promoted before, and refuses when there is none', async () => {
    await expect(registry.rollback()).rejects.toThrow(/no model has been promoted/);
    for (const v of ['v1', 'v2', 'v3']) await registry.register(entry(v));
    await registry.promote('v1');
    await expect(registry.rollback()).rejects.toThrow(/only version ever promoted/);
    await registry.promote('v2');
    await registry.promote('v3');
    expect(await registry.history()).toEqual(['v2', 'v1']);
    expect(await registry.rollback()).toEqual({ from: 'v3', to: 'v2' });
    expect((await registry.current())?.version).toBe('v2');
    expect(await registry.rollback()).toEqual({ from: 'v2', to: 'v1' });
    expect(await registry.history()).toEqual([]);
    // Promoting a version again moves it to the front, without a duplicate.
    await registry.promote('v2');
    await registry.promote('v1');
    expect(await registry.history()).toEqual(['v2']);
  });
});
