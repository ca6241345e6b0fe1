import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { createCpuActivities } from '../activities/cpu';
import { createGpuActivities } from '../activities/gpu';
import type { AcceleratorInfo } from '../activities/accelerator';
import type { ArtifactStore } from '../shared/artifacts';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '../shared/contracts';
import { activityMetrics } from '../shared/metrics/interceptor';
import type { PipelineMetrics } from '../shared/metrics/pipeline';

/** How long in-flight activities may finish after SIGINT/SIGTERM before they are cancelled. */
export const SHUTDOWN_GRACE = '30 seconds';
/** Longest gap between heartbeats sent to the server, and so the delay before a cancellation lands. */
export const HEARTBEAT_THROTTLE = '2 seconds';

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  /** Overrides the queue (tests use a queue per test). */
  taskQueue?: string;
  /** Pixel's metrics of this process: every activity attempt is timed and its result counted. */
  metrics?: PipelineMetrics;
  extra?: Partial<WorkerOptions>;
}

const interceptors = (metrics?: PipelineMetrics): Partial<WorkerOptions> =>
  metrics ? { interceptors: { activity: [activityMetrics(metrics)] } } : {};

/** Workflows plus CPU activities. */
export async function createCpuWorker(deps: WorkerDeps & { store: ArtifactStore }): Promise<Worker> {
  // Bundled here rather than by Worker.create so webpack's report stays out of the worker log.
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? CPU_TASK_QUEUE,
    workflowBundle,
    activities: createCpuActivities({ store: deps.store }),
    shutdownGraceTime: SHUTDOWN_GRACE,
    // Cancellation reaches an activity only with a heartbeat's answer; the default throttle
    // (up to 60 s) would leave a cancelled stage running for a minute.
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    ...interceptors(deps.metrics),
    ...deps.extra,
  });
}

/** GPU-queue activities; on a machine without a GPU they run on the CPU execution provider. */
export function createGpuWorker(deps: WorkerDeps & { accelerator: AcceleratorInfo; store: ArtifactStore }): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? GPU_TASK_QUEUE,
    activities: createGpuActivities({ accelerator: deps.accelerator, store: deps.store, ...(deps.metrics ? { metrics: deps.metrics } : {}) }),
    // One training job per GPU: they do not share a device well.
    maxConcurrentActivityTaskExecutions: Math.max(1, deps.accelerator.gpus.length),
    shutdownGraceTime: SHUTDOWN_GRACE,
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    ...interceptors(deps.metrics),
    ...deps.extra,
  });
}
