import { detectAccelerator } from '../activities/accelerator';
import { artifactStoreFromEnv } from '../shared/artifacts';
import { createGpuWorker } from './factory';
import { runWorkerProcess } from './run-worker';

void runWorkerProcess('gpu-worker', async (connection, namespace, metrics) => {
  const accelerator = await detectAccelerator();
  if (accelerator.executionProvider === 'cpu') {
    console.log(`[gpu-worker] no GPU (${accelerator.reason}): GPU-queue work runs on the CPU execution provider`);
  } else {
    console.log(`[gpu-worker] using CUDA on ${accelerator.gpus.map((g) => `${g.name} (${g.memoryMiB} MiB)`).join(', ')}`);
  }
  // PIXEL_GPU_TASK_QUEUE: another queue than pixel-gpu (a run on queue Q trains on Q-gpu).
  return createGpuWorker({
    connection,
    namespace,
    accelerator,
    store: artifactStoreFromEnv(),
    taskQueue: process.env.PIXEL_GPU_TASK_QUEUE || undefined,
    ...(metrics ? { metrics } : {}),
  });
});
