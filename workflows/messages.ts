import { defineQuery } from '@temporalio/workflow';
import type { PipelineProgress } from '../shared/contracts';

/** Where a pipeline run is: stage, per-stage status, counts and timings. */
export const getProgressQuery = defineQuery<PipelineProgress>('getProgressQuery');
