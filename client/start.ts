import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { CPU_TASK_QUEUE, PipelineInputSchema, RUN_NAME, parseWith, type PipelineInput } from '../shared/contracts';

/** A readable, unique workflow id: `pipeline-20261125-190501-3f2a`. */
export function newPipelineId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `pipeline-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The pipeline input parsed, or an error naming every bad field (before anything connects or starts). */
export function checkPipelineInput(input: unknown): { ok: true; value: PipelineInput } {
  const parsed = parseWith(PipelineInputSchema, 'pipeline input', input);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed;
}

/**
 * Validates a pipeline input on the caller's side (a clear message, nothing started) and starts
 * `trainingPipelineWorkflow` on the CPU queue with the raw input, so defaults apply in one place.
 */
export async function startPipeline(client: Client, input: unknown, workflowId?: string): Promise<WorkflowHandle> {
  const parsed = checkPipelineInput(input);
  const id = workflowId ?? newPipelineId();
  return client.workflow.start('trainingPipelineWorkflow', {
    taskQueue: CPU_TASK_QUEUE,
    workflowId: id,
    args: [input as PipelineInput],
    typedSearchAttributes: [{ key: RUN_NAME, value: parsed.value.runName ?? id }],
  });
}
