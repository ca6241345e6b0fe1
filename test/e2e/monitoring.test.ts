import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import OpenAI from 'openai';
import { LocalArtifactStore } from '../../shared/artifacts';
import { PipelineMetrics } from '../../shared/metrics/pipeline';
import { MONITORING_DIR, findPrometheus, queryPrometheus, startPrometheus, type RunningPrometheus } from '../../shared/metrics/prometheus';
import { startMetricsServer, type MetricsServer } from '../../shared/metrics/server';
import { ModelRegistry } from '../../shared/model-registry/model-registry';
import { startServing, type RunningServer } from '../../serving/start';
import { trainingPipelineWorkflow } from '../../workflows/pipeline';
import { createCpuWorker, createGpuWorker } from '../../workers/factory';
import { launchBrowser } from '../browser';
import { freePort, tempDir, testEnvironment, uniqueQueue } from '../helpers';
import { promotableRunInput, reviewEverything } from '../review-helpers';

const CRISIS = 'I have the pills saved up and I am going to take them all tonight to end my life';

interface DashboardPanel {
  title: string;
  targets: { expr: string }[];
  pixel?: { core?: boolean };
}

/**
 * Monitoring end to end: a real Prometheus (Debian's binary) scrapes the CPU and GPU workers'
 * `/metrics` and the chat API's while a pipeline runs to promotion on a real Temporal dev server
 * and the promoted model answers chat requests, a crisis message among them. Through
 * Prometheus's HTTP API: the metrics exist with plausible values, the crisis alert fires, and
 * every Grafana panel's query parses (the core ones return series).
 */
describe('monitoring: Prometheus scraping a pipeline run and the chat API', () => {
  const t = tempDir('pixel-monitoring-');
  const binary = findPrometheus();
  let env: TestWorkflowEnvironment;
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  const endpoints: MetricsServer[] = [];
  let serving: RunningServer | undefined;
  let prometheus: RunningPrometheus | undefined;
  let store: LocalArtifactStore;
  const taskQueue = uniqueQueue('monitoring');

  /** Polls an expression until it returns at least one series whose value passes `ok`. */
  async function eventually(expr: string, ok: (v: number) => boolean = () => true, ms = 30_000): Promise<number> {
    const started = Date.now();
    let last = 'no series';
    for (;;) {
      const result = await queryPrometheus(prometheus!.url, expr);
      const values = result.map((r) => Number(r.value[1]));
      const hit = values.find(ok);
      if (hit !== undefined) return hit;
      last = values.length === 0 ? 'no series' : values.join(', ');
      if (Date.now() - started > ms) throw new Error(`${expr}: ${last} after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  beforeAll(async () => {
    if (!binary)
      throw new Error('prometheus is not installed: run `bash scripts/setup.sh --test` (Debian package prometheus) or set PIXEL_PROMETHEUS');
    env = await testEnvironment();
    store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    const cpuMetrics = new PipelineMetrics();
    const gpuMetrics = new PipelineMetrics();
    const cpu = await createCpuWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      store,
      metrics: cpuMetrics,
    });
    const gpu = await createGpuWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: `${taskQueue}-gpu`,
      store,
      metrics: gpuMetrics,
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' },
    });
    workers.push(cpu, gpu);
    running.push(cpu.run(), gpu.run());
    for (const m of [cpuMetrics, gpuMetrics]) endpoints.push(await startMetricsServer({ registry: m.registry, host: '127.0.0.1', port: 0 }));
    serving = await startServing({
      store,
      port: await freePort(),
      pollMs: 200,
      maxBatch: 4,
      maxQueue: 8,
      maxTokens: 64,
      defaultMaxTokens: 16,
      log: () => undefined,
    });
    const hostPort = (url: string) => new URL(url).host;
    prometheus = await startPrometheus({
      binary,
      dir: path.join(t.dir, 'prometheus'),
      port: await freePort(),
      jobs: [
        { job: 'pixel-cpu-worker', targets: [hostPort(endpoints[0]!.url)] },
        { job: 'pixel-gpu-worker', targets: [hostPort(endpoints[1]!.url)] },
        { job: 'pixel-serve', targets: [hostPort(serving.url)] },
      ],
      scrapeIntervalSeconds: 1,
      evaluationIntervalSeconds: 1,
    });
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await serving?.close(5_000);
    for (const e of endpoints) await e.close();
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await env?.teardown();
    t.cleanup();
  });

  it('sees the pipeline, the chat API and a crisis message in Prometheus, fires the crisis alert, and every dashboard query works', async () => {
    // Every target is scraped.
    for (const job of ['pixel-cpu-worker', 'pixel-gpu-worker', 'pixel-serve']) expect(await eventually(`up{job="${job}"}`, (v) => v === 1)).toBe(1);

    // A pipeline run to promotion.
    const input = promotableRunInput('monitoring');
    const handle = await env.client.workflow.start(trainingPipelineWorkflow, { taskQueue, workflowId: `monitoring-${Date.now()}`, args: [input] });
    await reviewEverything(env.client, handle.workflowId, true);
    const result = await handle.result();
    expect(result.promotion?.promoted).toBe(true);
    const registry = new ModelRegistry(store);
    expect((await registry.current())?.version).toBe(handle.workflowId);

    // Pipeline metrics, with values that agree with the run's own result.
    const accepted = await eventually('sum(pixel_records_total{stage="prepare",outcome="accepted"})', (v) => v > 0);
    expect(accepted).toBe(result.dataset.counts.accepted);
    expect(await eventually('sum(pixel_records_total{stage="prepare",outcome="read"})', (v) => v > 0)).toBeGreaterThanOrEqual(accepted);
    expect(await eventually('sum(pixel_records_total{stage="safety",outcome="kept"})', (v) => v > 0)).toBe(result.safety!.counts.kept);
    expect(await eventually('sum(pixel_safety_crisis_records_total)', (v) => v > 0)).toBe(result.safety!.counts.crisis);
    expect(await eventually('sum(pixel_stage_runs_total{stage="trainModel",outcome="ok"})', (v) => v >= 1)).toBe(1);
    expect(await eventually('max(pixel_training_step)', (v) => v > 0)).toBeGreaterThan(0);
    const loss = await eventually('max(pixel_training_loss)', (v) => v > 0);
    expect(loss).toBeLessThan(20);
    expect(await eventually('pixel_evaluation_headline{metric="items"}', (v) => v > 0)).toBe(result.evaluate!.headline.items);
    expect(await eventually('sum(pixel_promotions_total)', (v) => v >= 1)).toBe(1);
    expect(
      await eventually('histogram_quantile(0.5, sum by (le) (pixel_stage_duration_seconds_bucket{stage="trainModel"}))', (v) => v > 0),
    ).toBeGreaterThan(0);

    // The chat API follows the registry to the promoted model; requests and a crisis message.
    await eventually(`pixel_serve_model_info{version="${handle.workflowId}"}`, (v) => v === 1);
    // The crisis counter exists at 0 before the message, so its first one is an increase.
    expect(await eventually('sum(pixel_serve_guardrail_events_total{rule="crisis"})', () => true)).toBe(0);
    const chat = new OpenAI({ baseURL: `${serving!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    // Tokens each reply generated (sampled: a reply may stop at its first token and have no text,
    // and so no time to first token).
    const generated: number[] = [];
    for (const content of ['I have been anxious at work.', 'I cannot sleep and I feel alone.']) {
      const reply = await chat.chat.completions.create({ model: 'pixel', messages: [{ role: 'user', content }], max_tokens: 8 });
      generated.push(reply.usage?.completion_tokens ?? 0);
    }
    const stream = await chat.chat.completions.create({
      model: 'pixel',
      messages: [{ role: 'user', content: 'Tell me more.' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) if (chunk.usage) generated.push(chunk.usage.completion_tokens);
    const crisis = await chat.chat.completions.create({ model: 'pixel', messages: [{ role: 'user', content: CRISIS }], max_tokens: 8 });
    generated.push(crisis.usage?.completion_tokens ?? 0);
    expect(crisis.choices[0]?.message.content).toMatch(/988/);
    expect(generated).toHaveLength(4);
    const tokens = generated.reduce((a, b) => a + b, 0);
    expect(tokens).toBeGreaterThan(0);
    expect(await eventually('sum(pixel_serve_requests_total{route="chat_completions",code="200"})', (v) => v >= 4)).toBe(4);
    expect(await eventually('sum(pixel_serve_guardrail_events_total{rule="crisis",severity=~"HIGH|IMMINENT"})', (v) => v >= 1)).toBe(1);
    expect(await eventually('sum(pixel_serve_completion_tokens_total)', (v) => v >= tokens)).toBe(tokens);
    // One time to first token per reply that generated text.
    const withText = generated.filter((n) => n > 0).length;
    expect(await eventually('sum(pixel_serve_time_to_first_token_seconds_count)', (v) => v >= withText)).toBe(withText);

    // The crisis alert fires (its rule file is the one deployed; evaluated every second here).
    const started = Date.now();
    let firing: { labels: Record<string, string>; state: string }[] = [];
    while (Date.now() - started < 30_000) {
      const alerts = (await (await fetch(`${prometheus!.url}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      };
      firing = alerts.data.alerts.filter((a) => a.labels.alertname === 'PixelCrisisMessages' && a.state === 'firing');
      if (firing.length > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(firing).toHaveLength(1);
    expect(firing[0]!.labels).toMatchObject({ severity: 'warning', team: 'clinical' });
    // As a person sees it: Prometheus's own alerts page in headless Chromium lists the alert as
    // firing (Debian's build serves the classic pages under /classic; upstream's at /alerts).
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${prometheus!.url}/classic/alerts`);
      const row = page.locator('tr', { hasText: 'PixelCrisisMessages' }).first();
      await row.waitFor({ timeout: 15_000 });
      expect(await row.innerText()).toMatch(/PixelCrisisMessages \(1 active\)/);
      // The classic page colours a firing alert's row as danger (pending: warning, inactive: success).
      const danger = ((await row.getAttribute('class')) ?? '').includes('danger') || (await row.locator('[class*="danger"]').count()) > 0;
      expect(danger).toBe(true);
      const shot = await page.screenshot({ path: path.join(t.dir, 'alerts.png'), fullPage: true });
      expect(shot.length).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
    // Every rule loaded from deploy/monitoring/rules, none failing to evaluate.
    const rules = (await (await fetch(`${prometheus!.url}/api/v1/rules`)).json()) as {
      data: { groups: { name: string; rules: { health: string; name: string }[] }[] };
    };
    expect(rules.data.groups.map((g) => g.name).sort()).toEqual(['pixel-performance', 'pixel-pipeline', 'pixel-safety']);
    for (const g of rules.data.groups) for (const r of g.rules) expect({ rule: r.name, health: r.health }).toEqual({ rule: r.name, health: 'ok' });

    // Every panel of every dashboard: its query parses; a core panel returns series after this run.
    const dir = path.join(MONITORING_DIR, 'grafana', 'dashboards');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(['pipeline.json', 'safety.json', 'serving.json', 'training.json']);
    let core = 0;
    for (const file of files) {
      const dashboard = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { panels: DashboardPanel[] };
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const result = await queryPrometheus(prometheus!.url, target.expr).catch((err: unknown) => {
            throw new Error(`${file} "${panel.title}": ${(err as Error).message}`);
          });
          if (panel.pixel?.core)
            expect({ panel: `${file}: ${panel.title}`, series: result.length > 0 }).toEqual({ panel: `${file}: ${panel.title}`, series: true });
        }
        if (panel.pixel?.core) core += 1;
      }
    }
    expect(core).toBeGreaterThanOrEqual(20);
  }, 600_000);
});
