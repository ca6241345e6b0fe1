import type { TestWorkflowEnvironment } from '@temporalio/testing';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __PIXEL_TEMPORAL__?: TestWorkflowEnvironment }).__PIXEL_TEMPORAL__?.teardown();
}
