import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type Worker } from '@temporalio/worker';
import { temporalSettings } from '../client/env';
import { PipelineMetrics } from '../shared/metrics/pipeline';
import { freeLoopbackPort, parseAddress, startMetricsServer, type MetricsServer } from '../shared/metrics/server';

/**
 * Connects, builds a worker and runs it until SIGINT/SIGTERM, then shuts down gracefully
 * (in-flight activities get the shutdown grace time to finish). Exits non-zero on failure.
 * With `PIXEL_METRICS_ADDRESS=host:port` the process serves `GET /metrics` there: Pixel's
 * metrics (`PipelineMetrics`) followed by the Temporal SDK's, whose exporter listens on a free
 * loopback port.
 */
export async function runWorkerProcess(
  name: string,
  build: (connection: NativeConnection, namespace: string, metrics?: PipelineMetrics) => Promise<Worker>,
): Promise<void> {
  const settings = temporalSettings();
  let address: { host: string; port: number } | undefined;
  try {
    if (process.env.PIXEL_METRICS_ADDRESS) address = parseAddress(process.env.PIXEL_METRICS_ADDRESS, 'PIXEL_METRICS_ADDRESS');
  } catch (err) {
    console.error(`[${name}] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return;
  }
  const sdkPort = address ? await freeLoopbackPort() : undefined;
  const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  const requested = (process.env.PIXEL_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  const level = levels.includes(requested) ? requested : 'INFO';
  if (level !== requested) console.warn(`[${name}] PIXEL_LOG_LEVEL=${process.env.PIXEL_LOG_LEVEL} is not one of ${levels.join(', ')}; using INFO`);
  Runtime.install({
    logger: new DefaultLogger(level),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(sdkPort ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}` } } } } : {}),
  });
  let served: MetricsServer | undefined;
  try {
    const metrics = address ? new PipelineMetrics() : undefined;
    if (address && metrics) {
      served = await startMetricsServer({ registry: metrics.registry, ...address, alsoFrom: `http://127.0.0.1:${sdkPort}/metrics` }).catch(
        (err: unknown) => {
          throw new Error(`cannot serve metrics on ${address.host}:${address.port}: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
      console.log(`[${name}] metrics at ${served.url}`);
    }
    const connection = await NativeConnection.connect({ address: settings.address });
    try {
      const worker = await build(connection, settings.namespace, metrics);
      console.log(`[${name}] polling task queue ${worker.options.taskQueue} on ${settings.address} (namespace ${settings.namespace})`);
      await worker.run();
      console.log(`[${name}] shut down`);
    } finally {
      await connection.close();
    }
  } catch (err) {
    console.error(`[${name}] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  } finally {
    await served?.close();
  }
}
