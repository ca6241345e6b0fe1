import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { pixelHome, workflowUiUrl } from '../client/env';
import { findTemporalCli, startDevServer, stopChild, waitForTemporal, type DevServer } from '../client/temporal-cli';
import { failureMessage, followPipeline, summarizeResult } from '../client/follow';
import { ensureSearchAttributes } from '../client/search-attributes';
import { checkPipelineInput, startPipeline } from '../client/start';
import { CPU_TASK_QUEUE } from '../shared/contracts';
import { reviewOrigins, startReviewServer, type ReviewServer } from '../review-ui/server';
import { startServing, type RunningServer } from '../serving/start';
import { artifactStoreAt } from '../shared/artifacts';
import { reviewSecret, signReviewerToken } from '../shared/review/auth';
import { ensureReviewers, loadRegistry } from '../shared/review/reviewers';
import { findPrometheus, startPrometheus, type RunningPrometheus } from '../shared/metrics/prometheus';
import { freeLoopbackPort, loopbackPortFree } from '../shared/metrics/server';
import { intOption, readJsonInput } from './options';

interface DevOptions {
  port: number;
  uiPort: number;
  reviewPort: number;
  run?: boolean;
  input?: string;
  inputFile?: string;
  exitWhenDone?: boolean;
  serve: boolean;
  servePort: number;
  metrics: boolean;
  metricsPort: number;
  prometheusPort?: number;
}

/** The chat API's structured lines (model switches, guardrail decisions; never text) in the stack's output. */
const logServing = (line: Record<string, unknown>) => console.log(`[serve] ${JSON.stringify(line)}`);

const ROOT = path.resolve(__dirname, '..');

/** Starts a worker script as a child process, prefixing its output lines with its name. */
function startWorker(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', script)], {
    cwd: process.cwd(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) readline.createInterface({ input: stream }).on('line', (line) => console.log(`[${name}] ${line}`));
  }
  return child;
}

/** Restarts after a worker's death wait 1, 2, 4 ... s (at most 30 s); this many deaths within a minute give up. */
const MAX_QUICK_DEATHS = 5;

/**
 * Keeps one worker running while the stack is up: when it dies (a crash, an OOM kill, a `kill`
 * by hand) it is started again after a backoff, and `pixel dev` says so; Temporal and the review
 * page stay up, and the stage it was running is retried by Temporal. A worker that dies
 * MAX_QUICK_DEATHS times within a minute cannot start (a broken setup), and `onGiveUp` is told.
 */
class SupervisedWorker {
  child: ChildProcess;
  private deaths: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly name: string,
    private readonly script: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly stopping: () => boolean,
    private readonly onGiveUp: (err: Error) => void,
  ) {
    this.child = this.start();
  }

  private start(): ChildProcess {
    const child = startWorker(this.name, this.script, this.env);
    console.log(`[${this.name}] started (pid ${child.pid ?? '?'})`);
    child.once('exit', (code, signal) => {
      const how = signal ?? `code ${code}`;
      if (this.stopping()) {
        console.log(`[${this.name}] exited (${how})`);
        return;
      }
      const now = Date.now();
      this.deaths = [...this.deaths.filter((t) => now - t < 60_000), now];
      if (this.deaths.length >= MAX_QUICK_DEATHS) {
        this.onGiveUp(new Error(`the ${this.name} worker exited (${how}) ${this.deaths.length} times within a minute; see its output above`));
        return;
      }
      const delay = Math.min(30_000, 1000 * 2 ** (this.deaths.length - 1));
      console.log(`[${this.name}] exited (${how}); restarting it in ${delay / 1000} s (Temporal retries what it was running)`);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.stopping()) this.child = this.start();
      }, delay);
    });
    return child;
  }

  /** Stops the worker (in-flight work first) and any pending restart. */
  async stop(graceMs: number): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await stopChild(this.child, graceMs);
  }
}

async function alreadyRunning(address: string): Promise<boolean> {
  try {
    await waitForTemporal(address, 1_500);
    return true;
  } catch {
    return false;
  }
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('Start the local stack: Temporal dev server (SQLite, Web UI), CPU worker, GPU worker and the reviewers’ web page')
    .option('--port <port>', 'Temporal frontend port', intOption('--port', 1, 65535), 7233)
    .option('--ui-port <port>', 'Temporal Web UI port', intOption('--ui-port', 1, 65535), 8233)
    .option('--review-port <port>', 'the reviewers’ web page', intOption('--review-port', 0, 65535), 8234)
    .option('--serve-port <port>', 'the OpenAI-compatible chat API serving the promoted model', intOption('--serve-port', 0, 65535), 8300)
    .option('--no-serve', 'do not start the chat API')
    .option(
      '--metrics-port <port>',
      "the CPU worker's /metrics (Pixel's and the Temporal SDK's metrics); the GPU worker's is the next port (0: any free ones)",
      intOption('--metrics-port', 0, 65534),
      9464,
    )
    .option('--no-metrics', 'the workers serve no /metrics')
    .option(
      '--prometheus-port <port>',
      "also start Prometheus (PATH or PIXEL_PROMETHEUS) on this port, scraping the workers and the chat API with Pixel's alert rules (or PIXEL_PROMETHEUS_PORT)",
      intOption('--prometheus-port', 1, 65535),
    )
    .option('--run', 'also start a pipeline run (input from --input / --input-file, default {}) and follow it')
    .option('--input <json>', 'pipeline input for --run, as a JSON object')
    .option('--input-file <file>', 'pipeline input for --run, from a JSON file')
    .option('--exit-when-done', 'with --run: stop the stack when the run ends, exiting non-zero if it failed')
    .addHelpText('after', `\nState lives in PIXEL_HOME (default ./.pixel): temporal.db, artifacts/, logs/. Ctrl-C stops everything gracefully.`)
    .action(async (opts: DevOptions) => {
      let input: unknown;
      if (opts.run) {
        // Checked before anything starts, so bad input never leaves a stack behind.
        input = readJsonInput(opts.input, opts.inputFile);
        checkPipelineInput(input);
      }
      const home = pixelHome();
      const address = `127.0.0.1:${opts.port}`;
      const uiUrl = `http://localhost:${opts.uiPort}`;
      let server: DevServer | undefined;
      let reviewServer: ReviewServer | undefined;
      let serving: RunningServer | undefined;
      let prometheus: RunningPrometheus | undefined;
      const workers: SupervisedWorker[] = [];
      const prometheusPort = opts.prometheusPort ?? (process.env.PIXEL_PROMETHEUS_PORT ? Number(process.env.PIXEL_PROMETHEUS_PORT) : undefined);
      const prometheusBinary = prometheusPort !== undefined ? findPrometheus() : undefined;
      if (prometheusPort !== undefined && (!Number.isInteger(prometheusPort) || prometheusPort < 1 || prometheusPort > 65535)) {
        console.error('PIXEL_PROMETHEUS_PORT must be a port number (1 to 65535)');
        process.exit(1);
      }
      if (prometheusPort !== undefined && !prometheusBinary) {
        console.error('prometheus is not installed: apt-get install prometheus (Debian), or set PIXEL_PROMETHEUS to its binary');
        process.exit(1);
      }
      if (prometheusPort !== undefined && !opts.metrics) {
        console.error("--prometheus-port needs the workers' metrics: drop --no-metrics");
        process.exit(1);
      }
      let stopping: Promise<void> | undefined;

      const stop = (): Promise<void> => {
        stopping ??= (async () => {
          await prometheus?.stop().catch(() => undefined);
          await reviewServer?.close().catch(() => undefined);
          await serving?.close(10_000).catch(() => undefined);
          console.log('stopping workers (they finish in-flight work first) ...');
          await Promise.all(workers.map((w) => w.stop(40_000)));
          if (server) {
            console.log('stopping Temporal ...');
            await server.stop();
          }
        })();
        return stopping;
      };
      process.once('SIGINT', () => void stop().then(() => process.exit(130)));
      process.once('SIGTERM', () => void stop().then(() => process.exit(143)));

      // Resolves never; rejects when a worker cannot be kept running while the stack is meant to be up.
      let workerDied: (err: Error) => void = () => undefined;
      const workerDeath = new Promise<never>((_, reject) => {
        workerDied = reject;
      });
      workerDeath.catch(() => undefined);

      let connection: Connection | undefined;
      try {
        if (await alreadyRunning(address)) {
          console.log(`Temporal already answers at ${address}; using it`);
        } else {
          const cli = findTemporalCli();
          console.log(`starting Temporal dev server (${cli}) ...`);
          server = await startDevServer({
            cli,
            dbFile: path.join(home, 'temporal.db'),
            port: opts.port,
            uiPort: opts.uiPort,
            logFile: path.join(home, 'logs', 'temporal.log'),
          });
        }
        connection = await Connection.connect({ address });
        const added = await ensureSearchAttributes(connection, 'default');
        if (added.length > 0) console.log(`registered search attributes: ${added.join(', ')}`);

        const env: NodeJS.ProcessEnv = {
          ...process.env,
          PIXEL_TEMPORAL_ADDRESS: address,
          PIXEL_HOME: home,
          PIXEL_ARTIFACTS: process.env.PIXEL_ARTIFACTS ?? path.join(home, 'artifacts'),
          // Worker state changes would drown the run's progress; PIXEL_LOG_LEVEL=INFO brings them back.
          PIXEL_LOG_LEVEL: process.env.PIXEL_LOG_LEVEL ?? 'WARN',
        };
        // A port another process holds (a second stack, say) is replaced by a free one, said below.
        const metricsPorts: number[] = [];
        if (opts.metrics)
          for (const wanted of opts.metricsPort === 0 ? [0, 0] : [opts.metricsPort, opts.metricsPort + 1])
            metricsPorts.push(wanted !== 0 && (await loopbackPortFree(wanted)) ? wanted : await freeLoopbackPort());
        for (const [i, [name, script]] of (
          [
            ['cpu', 'cpu-worker.ts'],
            ['gpu', 'gpu-worker.ts'],
          ] as const
        ).entries()) {
          const own = metricsPorts[i] !== undefined ? { ...env, PIXEL_METRICS_ADDRESS: `127.0.0.1:${metricsPorts[i]}` } : env;
          workers.push(new SupervisedWorker(name, script, own, () => stopping !== undefined, workerDied));
        }
        if (metricsPorts.length > 0)
          console.log(`Worker metrics: http://127.0.0.1:${metricsPorts[0]}/metrics (cpu), http://127.0.0.1:${metricsPorts[1]}/metrics (gpu)`);
        console.log(`Temporal UI: ${uiUrl}`);
        console.log(`Temporal address: ${address} (artifacts in ${env.PIXEL_ARTIFACTS})`);

        // The reviewers' page, and a reviewer registry for a fresh stack (edit review/reviewers.json to change it).
        const store = artifactStoreAt(env.PIXEL_ARTIFACTS as string, 'PIXEL_ARTIFACTS');
        const reviewers = await ensureReviewers(store);
        const secret = reviewSecret(home);
        reviewServer = await startReviewServer({
          client: new Client({ connection }),
          store,
          secret,
          port: opts.reviewPort,
          taskQueue: CPU_TASK_QUEUE,
          allowedOrigins: reviewOrigins(),
        });
        console.log(`Review page: ${reviewServer.url} (reviewers: ${reviewers.map((r) => r.id).join(', ')})`);
        if (opts.serve) {
          // The chat API follows the registry: it answers once a model is promoted (readyz says when).
          serving = await startServing({ store, port: opts.servePort, log: (line) => logServing(line) }).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
              throw new Error(`the chat API's port ${opts.servePort} is in use: pass --serve-port PORT (0: any free one) or --no-serve`);
            throw err;
          });
          console.log(`Chat API: ${serving.url}/v1 (OpenAI-compatible; model: ${serving.host.current?.version ?? 'none promoted yet'})`);
        }
        if (prometheusPort !== undefined && prometheusBinary) {
          prometheus = await startPrometheus({
            binary: prometheusBinary,
            dir: path.join(home, 'prometheus'),
            port: prometheusPort,
            jobs: [
              { job: 'pixel-cpu-worker', targets: [`127.0.0.1:${metricsPorts[0]}`] },
              { job: 'pixel-gpu-worker', targets: [`127.0.0.1:${metricsPorts[1]}`] },
              ...(serving ? [{ job: 'pixel-serve', targets: [new URL(serving.url).host] }] : []),
            ],
          });
          console.log(`Prometheus: ${prometheus.url} (alerts: ${prometheus.url}/alerts; data in ${path.join(home, 'prometheus')})`);
        }
        const printReviewLinks = (stage: string) => {
          const page = reviewServer?.url;
          if (stage !== 'review' || !page) return;
          // Read now: the registry may have changed (a reviewer removed, their links revoked) since the stack started.
          loadRegistry(store).then(
            (entries) => {
              console.log(`the run waits for expert review: open ${page}; each reviewer signs in with their own link (valid 7 days):`);
              for (const r of entries)
                console.log(
                  `  ${r.id} (${r.name}${r.lead ? ', lead' : ''}): ${page}/login?token=${signReviewerToken(secret, r.id, { version: r.tokenVersion })}`,
                );
            },
            (err: unknown) => console.error(`cannot print the reviewers' links: ${(err as Error).message}`),
          );
        };

        if (!opts.run) {
          console.log('stack is up; start a run with `npx pixel run` (Ctrl-C to stop)');
          await workerDeath;
        }
        const client = new Client({ connection });
        const handle = await startPipeline(client, input);
        console.log(`started run ${handle.workflowId}`);
        console.log(`  ${workflowUiUrl({ address, namespace: 'default', uiUrl }, handle.workflowId)}`);
        let failed = false;
        try {
          console.log(summarizeResult(await Promise.race([followPipeline(handle, console.log, printReviewLinks), workerDeath])));
        } catch (err) {
          failed = true;
          console.error(`run ${handle.workflowId} failed: ${failureMessage(err)}`);
        }
        if (opts.exitWhenDone) {
          await connection.close();
          await stop();
          process.exit(failed ? 1 : 0);
        }
        console.log(`stack is still up: look at the run in ${uiUrl} (Ctrl-C to stop)`);
        await workerDeath;
      } catch (err) {
        // Whatever failed after startup began, take down what was started.
        await connection?.close().catch(() => undefined);
        await stop();
        throw err;
      }
    });
}
