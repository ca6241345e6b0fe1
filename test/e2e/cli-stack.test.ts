import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { PIPELINE_STAGE, RUN_NAME } from '../../shared/contracts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signReviewerToken } from '../../shared/review/auth';
import { launchBrowser } from '../browser';
import { freePort, pixelFailure, tempDir } from '../helpers';

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
  let reviewPort: number;
  let servePort: number;
  let prometheusPort: number;
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
    reviewPort = await freePort();
    servePort = await freePort();
    prometheusPort = await freePort();
    env = {
      ...process.env,
      PIXEL_HOME: path.join(t.dir, 'home'),
      PIXEL_TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      PIXEL_TEMPORAL_UI: `http://127.0.0.1:${uiPort}`,
      PIXEL_REVIEW_URL: `http://127.0.0.1:${reviewPort}`,
    };
    delete env.PIXEL_ARTIFACTS;
    delete env.PIXEL_REVIEW_SECRET;
    dev = spawn(
      process.execPath,
      [
        PIXEL,
        'dev',
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--review-port',
        String(reviewPort),
        '--serve-port',
        String(servePort),
        '--metrics-port',
        '0',
        '--prometheus-port',
        String(prometheusPort),
      ],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    dev.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    dev.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(/stack is up/, 90_000);
    await waitFor(/Review page: http:\/\/127\.0\.0\.1:\d+ \(reviewers: dr-amara, dr-jonas, dr-mei\)/, 10_000);
    await waitFor(new RegExp(`Chat API: http://127\\.0\\.0\\.1:${servePort}/v1 \\(OpenAI-compatible; model: none promoted yet\\)`), 10_000);
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

  it('runs a pipeline started with {} to its expert review, which reviewers complete in the review page; shows the run with its search attributes', async () => {
    const run = spawn(process.execPath, [PIXEL, 'run', '--input', '{}'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    run.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    run.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    const until = async (pattern: RegExp, ms: number) => {
      const started = Date.now();
      while (!pattern.test(stdout)) {
        if (Date.now() - started > ms || run.exitCode !== null)
          throw new Error(`pixel run did not print ${pattern} within ${ms} ms:\n${stdout.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await until(/the run waits for expert review: reviewers open http:\/\/127\.0\.0\.1:\d+/, 240_000);
    const id = /started (pipeline-\S+)/.exec(stdout)?.[1] as string;

    // Reviewers sign in with their links (signed with the stack's secret in PIXEL_HOME).
    const secret = readFileSync(path.join(t.dir, 'home', 'review-secret'), 'utf8').trim();
    const review = `http://127.0.0.1:${reviewPort}`;
    const token = (reviewer: string) => signReviewerToken(secret, reviewer);
    const reviewApi = (reviewer: string, route: string, body?: unknown) =>
      fetch(`${review}${route}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${token(reviewer)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    const assignmentsOf = async (reviewer: string) => {
      for (let i = 0; i < 50; i++) {
        const list = (await (await reviewApi(reviewer, '/api/assignments')).json()) as { workflowId: string; itemId: string; done: boolean }[];
        if (list.length > 0) return list;
        await new Promise((r) => setTimeout(r, 300));
      }
      throw new Error(`no assignments for ${reviewer}`);
    };
    expect(await reviewApi('dr-amara', '/api/assignments').then((r) => r.status)).toBe(200);
    expect((await fetch(`${review}/api/assignments`)).status).toBe(401);
    // Scores by item (the same from every reviewer of an item, so their agreement is measurable).
    const score = (itemId: string) => 4 + ([...itemId].reduce((a, c) => a + c.charCodeAt(0), 0) % 2);

    // One review through the page in headless Chromium, by keyboard and mouse as a person would.
    const reviewBrowser = await launchBrowser();
    try {
      const page = await reviewBrowser.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`${review}/login?token=${encodeURIComponent(token('dr-amara'))}`);
      await page.locator('#me', { hasText: 'dr-amara' }).waitFor();
      const first = (await assignmentsOf('dr-amara')).find((a) => !a.done)!;
      await page.goto(`${review}/#/review/${encodeURIComponent(first.workflowId)}/${encodeURIComponent(first.itemId)}`);
      await page.getByRole('heading', { level: 2, name: new RegExp(`Item ${first.itemId.replace(/[#.]/g, '.')}`) }).waitFor();
      const s = String(score(first.itemId));
      for (const group of ['Clinical accuracy', 'Empathy', 'Safety'])
        await page
          .getByRole('group', { name: group, exact: true })
          .getByRole('radio', { name: new RegExp(`^${s}`) })
          .check();
      await page.getByRole('group', { name: 'Safety label' }).getByLabel('Safe', { exact: true }).check();
      await page.getByRole('button', { name: 'Submit review' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Review of item ${first.itemId} recorded` })
        .waitFor();
    } finally {
      await reviewBrowser.close();
    }

    // The rest through the same API the page uses.
    let submitted = 1;
    for (const reviewer of ['dr-amara', 'dr-jonas', 'dr-mei']) {
      for (const a of (await assignmentsOf(reviewer)).filter((x) => !x.done)) {
        const s = score(a.itemId);
        const res = await reviewApi(reviewer, `/api/reviews/${encodeURIComponent(a.workflowId)}/items/${encodeURIComponent(a.itemId)}`, {
          scores: { clinicalAccuracy: s, empathy: s, safety: s },
          safetyLabel: 'safe',
          comment: '',
        });
        expect(res.status).toBe(200);
        submitted += 1;
      }
    }
    expect(submitted).toBeGreaterThan(50);
    expect(await exited).toBe(0);
    expect(stdout).toContain(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${id}`);
    expect(stdout).toMatch(/prepare: 2000 read, \d+ accepted/);
    expect(stdout).toMatch(/safety: \d+ kept, \d+ rejected, \d+ crisis conversations labelled/);
    expect(stdout).toMatch(/augment: \d+ copies of \d+ records \(ratio 0\.\d+; contextExpansion /);
    expect(stdout).toMatch(/crisis share 0\.\d+ -> 0\.1[45]/);
    expect(stdout).toMatch(/train: 60 steps on cpu \(steps\), validation loss \d+\.\d+ before -> \d+\.\d+ best/);
    expect(stdout).toMatch(new RegExp(`review: APPROVED after ${submitted} reviews`));
    expect(stdout).toMatch(/promoted: model version \S+ is now current|not promoted: evaluation: not better/);
    expect(stdout).toMatch(
      /evaluate: (BETTER|NOT BETTER).* than the base model; \d+ prompts, test loss \d+\.\d+ vs \d+\.\d+, safety pass \d+\.\d%, \d+ items for expert review/,
    );
    // The chat API follows the registry: the promoted model answers (a crisis message gets the protocol); with none promoted it is not ready.
    const serve = `http://127.0.0.1:${servePort}`;
    const promoted = /promoted: model version (\S+) is now current/.exec(stdout)?.[1];
    if (promoted) {
      for (let i = 0; i < 100 && (await fetch(`${serve}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));
      expect(await (await fetch(`${serve}/readyz`)).json()).toEqual({ status: 'ready', model: promoted });
      const chat = new OpenAI({ baseURL: `${serve}/v1`, apiKey: 'unused', maxRetries: 0 });
      const reply = await chat.chat.completions.create({
        model: promoted,
        messages: [{ role: 'user', content: 'Work has been stressful.' }],
        max_tokens: 8,
      });
      expect(reply.model).toBe(promoted);
      const crisis = await chat.chat.completions.create({
        model: promoted,
        messages: [{ role: 'user', content: 'I am going to kill myself tonight, I have decided' }],
        max_tokens: 4,
      });
      expect(crisis.choices[0]?.message.content).toMatch(/988/);
    } else {
      expect((await fetch(`${serve}/readyz`)).status).toBe(503);
    }

    const reportUri = /evaluation report (file:\S+)/.exec(stdout)?.[1];
    expect(reportUri).toBeDefined();

    // The report opens in a real browser and shows its charts (drawn, not just present in the markup).
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(reportUri as string);
      expect(await page.title()).toContain(id);
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
      const description = await client.workflow.getHandle(id).describe();
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
    expect(body).toContain(id);
    expect(body).toContain('DatasetSha');
  }, 300_000);

  it("serves each worker's metrics with the Temporal SDK's, and the Prometheus it started scrapes them and the chat API", async () => {
    const urls = /Worker metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics) \(cpu\), (http:\/\/127\.0\.0\.1:\d+\/metrics) \(gpu\)/.exec(output);
    expect(urls).not.toBeNull();
    for (const url of [urls![1]!, urls![2]!]) {
      const text = await (await fetch(url)).text();
      // Pixel's own (the run above went through both workers) and the Temporal SDK's, in one scrape.
      expect(text).toMatch(/^pixel_stage_runs_total\{stage="\w+",outcome="ok"\} [1-9]/m);
      expect(text).toMatch(/^temporal_\w+/m);
      expect(text).toMatch(/^pixel_metrics_sdk_up 1$/m);
    }
    expect(output).toContain(`Prometheus: http://127.0.0.1:${prometheusPort}`);
    const up = async () => {
      const res = await fetch(`http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent('up{job=~"pixel-.*"}')}`);
      return ((await res.json()) as { data: { result: { metric: { job: string }; value: [number, string] }[] } }).data.result;
    };
    let result = await up();
    for (let i = 0; i < 60 && !(result.length === 3 && result.every((r) => r.value[1] === '1')); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      result = await up();
    }
    expect(result.map((r) => `${r.metric.job}=${r.value[1]}`).sort()).toEqual(['pixel-cpu-worker=1', 'pixel-gpu-worker=1', 'pixel-serve=1']);
  });

  it('refuses bad input before starting anything, naming the field', async () => {
    const err = await pixelFailure(['run', '--input', '{"data":{"shardSize":0}}'], { env });
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('data.shardSize');
  });

  it('restarts a worker that dies, keeping Temporal and the review page up', async () => {
    const pid = Number(/\[cpu\] started \(pid (\d+)\)/.exec(output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    const polling = () => output.match(/\[cpu-worker\] polling task queue pixel-cpu/g)?.length ?? 0;
    const before = polling();
    process.kill(pid, 'SIGKILL');
    await waitFor(/\[cpu\] exited \(SIGKILL\); restarting it in 1 s/, 20_000);
    await waitFor(/\[cpu\] started \(pid \d+\)[\s\S]*\[cpu\] started \(pid \d+\)/, 20_000);
    const started = Date.now();
    while (polling() === before && Date.now() - started < 90_000) await new Promise((r) => setTimeout(r, 200));
    expect(polling()).toBe(before + 1);
    expect(dev.exitCode).toBeNull();
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      await connection.workflowService.getSystemInfo({});
    } finally {
      await connection.close();
    }
    const page = await fetch(`http://127.0.0.1:${reviewPort}/`, { headers: { connection: 'close' } });
    expect(page.status).toBe(200);
    await page.text(); // read to the end, so no socket is left open
  }, 120_000);

  it('stops the stack gracefully on Ctrl-C', async () => {
    const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
    dev.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toMatch(/\[cpu-worker\] shut down/);
    expect(output).toMatch(/\[gpu-worker\] shut down/);
  }, 90_000);
});
