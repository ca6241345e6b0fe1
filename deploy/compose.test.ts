import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTE_KEYS } from '../shared/contracts';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

/**
 * No Docker engine runs here, so the compose files are checked the way CI can: Debian's
 * docker-compose (installed by scripts/setup.sh --test) must accept them and list the stack.
 */
describe('docker-compose files', () => {
  async function compose(...args: string[]): Promise<string> {
    const { stdout } = await exec('docker-compose', args, { cwd: ROOT, env: { ...process.env, COMPOSE_PROJECT_NAME: 'pixel-ci' } });
    return stdout;
  }

  it('declares the whole stack', async () => {
    const services = (await compose('-f', 'docker-compose.yml', 'config', '--services')).split('\n').filter(Boolean).sort();
    expect(services).toEqual(
      [
        'cpu-worker',
        'gpu-worker',
        'grafana',
        'postgresql',
        'prometheus',
        'review-ui',
        's3',
        'serve',
        'temporal',
        'temporal-setup',
        'temporal-ui',
      ].sort(),
    );
  });

  it('runs the chat API with its keys from the environment, never without auth, scraped by Prometheus', async () => {
    const config = await compose('-f', 'docker-compose.yml', 'config');
    expect(config).toMatch(/PIXEL_SERVE_API_KEYS/);
    expect(config).not.toMatch(/--no-auth/);
    expect(readFileSync(path.join(ROOT, 'deploy', 'monitoring', 'prometheus.yml'), 'utf8')).toMatch(/targets: \['serve:8300'\]/);
  });

  it('keeps every artifact in the S3 store: each Pixel service has the bucket, the endpoint and the keys, and no shared volume', async () => {
    const { stdout } = await exec('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      cwd: ROOT,
      env: { ...process.env, COMPOSE_PROJECT_NAME: 'pixel-ci', PIXEL_S3_SECRET_KEY: 'from-the-env' },
    });
    const config = parse(stdout) as { services: Record<string, { environment?: Record<string, string>; volumes?: unknown[]; command?: string[] }> };
    for (const name of ['cpu-worker', 'gpu-worker', 'review-ui', 'serve']) {
      const env = config.services[name]?.environment ?? {};
      expect({ name, ...env }).toMatchObject({
        name,
        PIXEL_ARTIFACTS: 's3://pixel/artifacts',
        AWS_ENDPOINT_URL_S3: 'http://s3:8333',
        AWS_SECRET_ACCESS_KEY: 'from-the-env',
        PIXEL_S3_FORCE_PATH_STYLE: 'true',
      });
      expect(config.services[name]?.volumes ?? []).toEqual([]);
    }
    expect(config.services.s3?.environment?.AWS_SECRET_ACCESS_KEY).toBe('from-the-env');
    expect(config.services.s3?.command).toContain('-bucket=pixel');
  });

  it('registers every search attribute the code uses', async () => {
    const config = await compose('-f', 'docker-compose.yml', 'config');
    for (const key of SEARCH_ATTRIBUTE_KEYS) expect(config).toContain(key.name);
  });

  it('accepts the GPU override, which reserves NVIDIA devices for the GPU worker', async () => {
    const config = await compose('-f', 'docker-compose.yml', '-f', 'docker-compose.gpu.yml', 'config');
    expect(config).toMatch(/driver: nvidia/);
  });
});
