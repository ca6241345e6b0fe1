import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { stopChild } from '../util/child';

/** Where Pixel's Prometheus alert rules, their tests and the Grafana dashboards live. */
export const MONITORING_DIR = path.resolve(__dirname, '..', '..', 'deploy', 'monitoring');

/** The Prometheus server binary: PIXEL_PROMETHEUS, else `prometheus` on PATH (Debian's package). */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PIXEL_PROMETHEUS) return existsSync(env.PIXEL_PROMETHEUS) ? env.PIXEL_PROMETHEUS : undefined;
  const found = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  const bin = found.stdout.trim();
  return found.status === 0 && bin ? bin : undefined;
}

/** One scrape job: its name and the `host:port` targets whose `/metrics` it reads. */
export interface ScrapeJob {
  job: string;
  targets: string[];
}

/** A Prometheus configuration (YAML) scraping `jobs`, with Pixel's rule files. */
export function prometheusConfig(o: {
  jobs: ScrapeJob[];
  ruleFiles: string[];
  scrapeIntervalSeconds: number;
  evaluationIntervalSeconds: number;
}): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    '# Written by Pixel (pixel dev --prometheus, or a test): scrapes the local processes.',
    'global:',
    `  scrape_interval: ${o.scrapeIntervalSeconds}s`,
    `  evaluation_interval: ${o.evaluationIntervalSeconds}s`,
    'rule_files:',
    ...o.ruleFiles.map((f) => `  - ${q(f)}`),
    'scrape_configs:',
  ];
  for (const j of o.jobs) {
    lines.push(`  - job_name: ${q(j.job)}`, '    static_configs:', `      - targets: [${j.targets.map(q).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

export interface RunningPrometheus {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a real Prometheus server on loopback with its data under `dir` and waits until it is
 * ready. Its log goes to `dir/prometheus.log`.
 */
export async function startPrometheus(o: {
  binary: string;
  dir: string;
  port: number;
  jobs: ScrapeJob[];
  ruleFiles?: string[];
  scrapeIntervalSeconds?: number;
  evaluationIntervalSeconds?: number;
  readyTimeoutMs?: number;
}): Promise<RunningPrometheus> {
  await mkdir(path.join(o.dir, 'data'), { recursive: true });
  const config = path.join(o.dir, 'prometheus.yml');
  await writeFile(
    `${config}.tmp`,
    prometheusConfig({
      jobs: o.jobs,
      ruleFiles: o.ruleFiles ?? [path.join(MONITORING_DIR, 'rules', '*.yml')],
      scrapeIntervalSeconds: o.scrapeIntervalSeconds ?? 15,
      evaluationIntervalSeconds: o.evaluationIntervalSeconds ?? 15,
    }),
  );
  await rename(`${config}.tmp`, config);
  const log = createWriteStream(path.join(o.dir, 'prometheus.log'), { flags: 'a' });
  const child = spawn(
    o.binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(o.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${o.port}`,
      '--web.enable-lifecycle',
      '--storage.tsdb.retention.time=15d',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    await stopChild(child);
    log.end();
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      log.end();
      throw new Error(`prometheus exited with code ${child.exitCode} before it was ready; see ${path.join(o.dir, 'prometheus.log')}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, process: child, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not get ready on ${url} within ${o.readyTimeoutMs ?? 30_000} ms; see ${path.join(o.dir, 'prometheus.log')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One instant query through Prometheus's HTTP API; throws with Prometheus's own error (a bad expression, say). */
export async function queryPrometheus(url: string, expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new Error(`prometheus refused ${JSON.stringify(expr.slice(0, 200))}: ${body.error ?? res.status}`);
  const result = body.data?.result;
  if (body.data?.resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
  return result as { metric: Record<string, string>; value: [number, string] }[];
}
