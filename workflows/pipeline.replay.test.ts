import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { quietRuntime } from '../test/helpers';

/**
 * Replays saved histories against today's workflow code. A failure here means a change to the
 * workflow's command sequence that needs a `patched()` guard, or running workflows would break.
 * Record a new fixture with UPDATE_HISTORIES=1 (see pipeline.workflow.test.ts).
 */
// v1: prepare only (before the safety stage); v2: prepare + safety; v3: + augment; v4: + train; v5: + evaluate; v6: + review and promote.
const FIXTURES = [
  'pipeline-default-v1.json',
  'pipeline-default-v2.json',
  'pipeline-default-v3.json',
  'pipeline-default-v4.json',
  'pipeline-default-v5.json',
  'pipeline-default-v6.json',
  // A run that ends before training because nothing changed since the promoted model.
  'pipeline-unchanged-v1.json',
];

describe('trainingPipelineWorkflow replay', () => {
  beforeAll(() => quietRuntime());

  it.each(FIXTURES)(
    'replays %s',
    async (fixture) => {
      const json = JSON.parse(readFileSync(path.join(__dirname, '__histories__', fixture), 'utf8')) as {
        events: { startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId?: string } }[];
      };
      // The review child's id derives from the run's own id, so replay under the recorded one.
      const child = json.events.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
        ?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      const workflowId = child ? child.replace(/-review$/, '') : `replay-${fixture}`;
      await Worker.runReplayHistory({ workflowsPath: require.resolve('./index') }, historyFromJSON(json), workflowId);
    },
    60_000,
  );

  it('detects a history that does not match the code (near miss)', async () => {
    const json = JSON.parse(readFileSync(path.join(__dirname, '__histories__', FIXTURES[0] as string), 'utf8')) as {
      events: { activityTaskScheduledEventAttributes?: { activityType?: { name: string } } }[];
    };
    const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes);
    scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'someOtherActivity';
    await expect(Worker.runReplayHistory({ workflowsPath: require.resolve('./index') }, historyFromJSON(json), 'replay-mutated')).rejects.toThrow(
      /[Nn]ondeterminism|mismatch|does not match/,
    );
  }, 60_000);
});

describe('expertReviewWorkflow replay', () => {
  beforeAll(() => quietRuntime());

  it('replays a whole review (assignment, submissions through Updates, consensus)', async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(__dirname, '__histories__', 'expert-review-v1.json'), 'utf8')));
    await Worker.runReplayHistory({ workflowsPath: require.resolve('./index') }, history, 'replay-expert-review-v1');
  }, 60_000);
});

describe('hyperparameterSweepWorkflow replay', () => {
  beforeAll(() => quietRuntime());

  it('replays a whole sweep (data child, asynchronous trials, ASHA decisions, quick evaluations, report)', async () => {
    const json = JSON.parse(readFileSync(path.join(__dirname, '__histories__', 'sweep-v1.json'), 'utf8')) as {
      events: { startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId?: string } }[];
    };
    // The data child's id derives from the sweep's own id, so replay under the recorded one.
    const child = json.events.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)?.startChildWorkflowExecutionInitiatedEventAttributes
      ?.workflowId;
    await Worker.runReplayHistory({ workflowsPath: require.resolve('./index') }, historyFromJSON(json), child!.replace(/-data$/, ''));
  }, 60_000);
});
