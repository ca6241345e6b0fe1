import { detectAccelerator, type AcceleratorInfo } from './accelerator';

/** Everything the GPU worker registers. Workflows import this file's types only. */
export function createGpuActivities(deps: { accelerator: AcceleratorInfo }) {
  return {
    /** Which device this GPU-queue worker trains on; lets a run record where it trained. */
    async describeAcceleratorActivity(): Promise<AcceleratorInfo> {
      return deps.accelerator;
    },
  };
}

export type GpuActivities = ReturnType<typeof createGpuActivities>;
export { detectAccelerator };
