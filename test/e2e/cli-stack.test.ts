import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { PIPELINE_STAGE, RUN_NAME } from '../../shared/contracts';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../browser';
import { freePort, pixelFailure, runPixel, tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const PIXEL = path.join(ROOT, 'bin', 'pixel.js');

/**
 * The whole local stack as a person runs it: `pixel dev` starts the Temporal CLI dev server and
 * both workers, `pixel run` starts a pipeline from `{}`; the run must be visible with its search
 * attributes through the server and through the Web UI's HTTP API; Ctrl-C stops everything.
 */
describe('pixel dev + pixel run (end to end)', () => {
  const t = tempDir('pixel-e2e-');
  let dev: ChildProcess;
  let output = '';
  let port: number;
  let uiPort: number;
  let env: NodeJS.ProcessEnv;

  const waitFor = (pattern: RegExp, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const timer = setInterval(() => {
        if (pattern.test(output)) {
          clearInterval(timer);
          resolve();
        } else if (Date.now() - started > ms || dev.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`did not see ${pattern} within ${ms} ms; output:\n${output.slice(-3000)}`));
        }
      }, 100);
    });

  beforeAll(async () => {
    port = await freePort();
    uiPort = await freePort();
    env = { ...process.env, PIXEL_HOME: path.join(t.dir, 'home'), PIXEL_TEMPORAL_ADDRESS: `127.0.0.1:${port}`, PIXEL_TEMPORAL_UI: `http://127.0.0.1:${uiPort}` };
    delete env.PIXEL_ARTIFACTS;
    dev = spawn(process.execPath, [PIXEL, 'dev', '--port', String(port), '--ui-port', String(uiPort)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    dev.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(/stack is up/, 90_000);
    await waitFor(/\[cpu-worker\] polling task queue pixel-cpu/, 90_000);
    await waitFor(/\[gpu-worker\] polling task queue pixel-gpu/, 90_000);
  }, 200_000);

  afterAll(async () => {
    if (dev && dev.exitCode === null) dev.kill('SIGKILL');
    t.cleanup();
  });

  it('says the GPU worker runs on the CPU when there is no GPU', () => {
    if (!/using CUDA/.test(output)) expect(output).toMatch(/\[gpu-worker\] no GPU \(.*\): GPU-queue work runs on the CPU execution provider/);
  });

  it('runs a pipeline started with {} and shows it with its search attributes', async () => {
    const { stdout } = await runPixel(['run', '--input', '{}'], { env, timeout: 240_000 });
    const id = /started (pipeline-\S+)/.exec(stdout)?.[1];
    expect(id).toBeDefined();
    expect(stdout).toContain(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${id}`);
    expect(stdout).toMatch(/prepare: 2000 read, \d+ accepted/);
    expect(stdout).toMatch(/safety: \d+ kept, \d+ rejected, \d+ crisis conversations labelled/);
    expect(stdout).toMatch(/augment: \d+ copies of \d+ records \(ratio 0\.\d+; contextExpansion /);
    expect(stdout).toMatch(/crisis share 0\.\d+ -> 0\.1[45]/);
    expect(stdout).toMatch(/train: 60 steps on cpu \(steps\), validation loss \d+\.\d+ before -> \d+\.\d+ best/);
    expect(stdout).toMatch(/evaluate: (BETTER|NOT BETTER).* than the base model; \d+ prompts, test loss \d+\.\d+ vs \d+\.\d+, safety pass \d+\.\d%, \d+ items for expert review/);
    const reportUri = /evaluation report (file:\S+)/.exec(stdout)?.[1];
    expect(reportUri).toBeDefined();

    // The report opens in a real browser and shows its charts (drawn, not just present in the markup).
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(reportUri as string);
      expect(await page.title()).toContain(id as string);
      expect(await page.locator('.verdict').innerText()).toMatch(/^(Better|Not better)/);
      for (const chart of ['#loss-curve svg', '#delta-scenario svg', '#delta-severity svg']) {
        const box = await page.locator(chart).boundingBox();
        expect(box?.width).toBeGreaterThan(300);
        expect(box?.height).toBeGreaterThan(150);
      }
      expect(await page.locator('#loss-curve polyline').count()).toBeGreaterThan(0);
      expect(await page.locator('#delta-scenario rect.bar').count()).toBeGreaterThan(4);
      await page.screenshot({ path: path.join(t.dir, 'report.png'), fullPage: true });
      expect(fileURLToPath(reportUri as string)).toMatch(/report\.html$/);
    } finally {
      await browser.close();
    }

    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const client = new Client({ connection });
      const description = await client.workflow.getHandle(id as string).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(RUN_NAME)).toBe(id);
      expect(description.typedSearchAttributes.get(PIPELINE_STAGE)).toBe('completed');
      const listed: string[] = [];
      for await (const w of client.workflow.list({ query: `RunName = "${id}" AND PipelineStage = "completed"` })) listed.push(w.workflowId);
      expect(listed).toEqual([id]);
    } finally {
      await connection.close();
    }

    // The Web UI serves the page and, through its API, the run with its search attributes.
    const page = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(page.status).toBe(200);
    const api = await fetch(`http://127.0.0.1:${uiPort}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(`RunName="${id}"`)}`);
    expect(api.status).toBe(200);
    const body = await api.text();
    expect(body).toContain(id as string);
    expect(body).toContain('DatasetSha');
  }, 300_000);

  it('refuses bad input before starting anything, naming the field', async () => {
    const err = await pixelFailure(['run', '--input', '{"data":{"shardSize":0}}'], { env });
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('data.shardSize');
  });

  it('stops the stack gracefully on Ctrl-C', async () => {
    const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
    dev.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toMatch(/\[cpu-worker\] shut down/);
    expect(output).toMatch(/\[gpu-worker\] shut down/);
  }, 90_000);
});
