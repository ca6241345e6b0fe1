import type { ArtifactStore } from '../shared/artifacts';
import { detectAccelerator, type AcceleratorInfo } from './accelerator';
import { createEvaluationGpuActivities } from './evaluate';
import { createTrainActivities } from './fine-tune';
import type { PipelineMetrics } from '../shared/metrics/pipeline';

/** Everything the GPU worker registers. Workflows import this file's types only. */
export function createGpuActivities(deps: { accelerator: AcceleratorInfo; store: ArtifactStore; metrics?: PipelineMetrics }) {
  return {
    ...createTrainActivities(deps),
    ...createEvaluationGpuActivities(deps),
    /** Which device this GPU-queue worker trains on; lets a run record where it trained. */
    async describeAcceleratorActivity(): Promise<AcceleratorInfo> {
      return deps.accelerator;
    },
  };
}

export type GpuActivities = ReturnType<typeof createGpuActivities>;
export { detectAccelerator };
