import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type Worker } from '@temporalio/worker';
import { temporalSettings } from '../client/env';

/**
 * Connects, builds a worker and runs it until SIGINT/SIGTERM, then shuts down gracefully
 * (in-flight activities get the shutdown grace time to finish). Exits non-zero on failure.
 */
export async function runWorkerProcess(name: string, build: (connection: NativeConnection, namespace: string) => Promise<Worker>): Promise<void> {
  const settings = temporalSettings();
  const metrics = process.env.PIXEL_METRICS_ADDRESS;
  const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  const requested = (process.env.PIXEL_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  const level = levels.includes(requested) ? requested : 'INFO';
  if (level !== requested) console.warn(`[${name}] PIXEL_LOG_LEVEL=${process.env.PIXEL_LOG_LEVEL} is not one of ${levels.join(', ')}; using INFO`);
  Runtime.install({
    logger: new DefaultLogger(level),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(metrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metrics } } } } : {}),
  });
  try {
    const connection = await NativeConnection.connect({ address: settings.address });
    try {
      const worker = await build(connection, settings.namespace);
      console.log(`[${name}] polling task queue ${worker.options.taskQueue} on ${settings.address} (namespace ${settings.namespace})`);
      await worker.run();
      console.log(`[${name}] shut down`);
    } finally {
      await connection.close();
    }
  } catch (err) {
    console.error(`[${name}] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
