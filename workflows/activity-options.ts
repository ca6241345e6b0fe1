import { ActivityCancellationType, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { GpuActivities } from '../activities/gpu';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE, NON_RETRYABLE_ERROR_TYPES } from '../shared/contracts';

/**
 * How every activity of Pixel's workflows is retried: exponential backoff from 2 s to a minute,
 * five attempts, never for a failure whose type says retrying cannot help. Training overrides
 * the number of attempts only (each retry resumes from its last checkpoint).
 */
export const RETRY_POLICY = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
} as const;

/** GPU-queue activities of the running workflow: 'pixel-gpu' beside 'pixel-cpu', else '<queue>-gpu' (tests). */
export function gpuActivities(options: { startToCloseTimeout: Duration; heartbeatTimeout: Duration; maximumAttempts?: number }) {
  const queue = workflowInfo().taskQueue;
  return proxyActivities<GpuActivities>({
    taskQueue: queue === CPU_TASK_QUEUE ? GPU_TASK_QUEUE : `${queue}-gpu`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: options.startToCloseTimeout,
    heartbeatTimeout: options.heartbeatTimeout,
    retry: { ...RETRY_POLICY, ...(options.maximumAttempts ? { maximumAttempts: options.maximumAttempts } : {}) },
  });
}
