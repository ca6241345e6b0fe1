import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { apiKeysFrom } from '../../scripts/serve';
import { LocalArtifactStore } from '../../shared/artifacts';
import { ModelRegistry } from '../../shared/model-registry/model-registry';
import { pixelFailure, runPixel, tempDir } from '../helpers';

describe('pixel serve and pixel model rollback (CLI)', () => {
  const t = tempDir();
  afterAll(() => t.cleanup());
  const env = { ...process.env, PIXEL_ARTIFACTS: path.join(t.dir, 'artifacts') };

  it('refuses a non-loopback address without API keys, and contradictory limits, in one line', async () => {
    const open = await pixelFailure(['serve', '--host', '0.0.0.0', '--model', 'random-tiny'], { env });
    expect(open.code).toBe(1);
    expect(open.stderr.trim().split('\n')).toHaveLength(1);
    expect(open.stderr).toMatch(/--host 0\.0\.0\.0 is not loopback: give API keys/);
    const limits = await pixelFailure(['serve', '--max-tokens', '100', '--default-max-tokens', '200'], { env });
    expect(limits.stderr).toMatch(/--default-max-tokens must not be above --max-tokens/);
    const port = await pixelFailure(['serve', '--port', '70000'], { env });
    expect(port.stderr).toMatch(/--port must be an integer from 0 to 65535/);
  });

  it('reads API keys from a file and the environment, refusing short ones without echoing them', () => {
    const file = path.join(t.dir, 'keys');
    writeFileSync(file, '# team keys\nsk-aaaaaaaaaaaaaaaa\n\n  sk-bbbbbbbbbbbbbbbb  \n');
    expect(apiKeysFrom(file, 'sk-cccccccccccccccc, sk-dddddddddddddddd')).toEqual([
      'sk-aaaaaaaaaaaaaaaa',
      'sk-bbbbbbbbbbbbbbbb',
      'sk-cccccccccccccccc',
      'sk-dddddddddddddddd',
    ]);
    expect(() => apiKeysFrom(undefined, 'secret-short')).toThrow(/API key 1 must be 16 to 512 printable characters/);
    try {
      apiKeysFrom(undefined, 'secret-short');
    } catch (err) {
      expect((err as Error).message).not.toContain('secret-short');
    }
  });

  it('rolls the registry back to the version promoted before, and says clearly when there is none', async () => {
    const none = await pixelFailure(['model', 'rollback'], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/cannot roll back: no model has been promoted/);
    const registry = new ModelRegistry(new LocalArtifactStore(env.PIXEL_ARTIFACTS));
    for (const version of ['v1', 'v2']) {
      await registry.register({ version, modelUri: path.join(t.dir, version), createdAt: new Date().toISOString() });
      await registry.promote(version);
    }
    const { stdout } = await runPixel(['model', 'rollback'], { env });
    expect(JSON.parse(stdout)).toEqual({ from: 'v2', to: 'v1' });
    expect((await registry.current())?.version).toBe('v1');
  });
});
