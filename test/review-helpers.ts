import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { reviewWorkflowId, type PipelineInput, type RecordedReview, type ReviewStatus, type SubmitReviewInput } from '../shared/contracts';
import { getReviewStatusQuery, submitReviewUpdate } from '../workflows/review-messages';

/** Waits until a pipeline run's review workflow answers its status query. */
export async function waitForReview(client: Client, pipelineWorkflowId: string, timeoutMs = 240_000): Promise<ReviewStatus> {
  const handle = client.workflow.getHandle(reviewWorkflowId(pipelineWorkflowId));
  const started = Date.now();
  for (;;) {
    try {
      return await handle.query(getReviewStatusQuery);
    } catch (err) {
      if (Date.now() - started > timeoutMs)
        throw new Error(`the review of ${pipelineWorkflowId} did not start within ${timeoutMs} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Every assigned reviewer reviews every item through `submitReviewUpdate`: `approve` gives
 * scores of 4 or 5 (alternating by item, the reviewers of an item agreeing, so agreement is
 * measurable), otherwise 1 or 2 with the crisis items labelled unsafe.
 */
export async function reviewEverything(client: Client, pipelineWorkflowId: string, approve: boolean): Promise<number> {
  const status = await waitForReview(client, pipelineWorkflowId);
  const handle = client.workflow.getHandle(reviewWorkflowId(pipelineWorkflowId));
  let submitted = 0;
  for (const [i, item] of status.items.entries()) {
    const s = approve ? 4 + (i % 2) : 1 + (i % 2);
    for (const reviewerId of item.assigned) {
      await handle.executeUpdate(submitReviewUpdate, {
        args: [
          {
            reviewerId,
            itemId: item.itemId,
            scores: { clinicalAccuracy: s, empathy: s, safety: s },
            safetyLabel: approve || !item.crisis ? 'safe' : 'unsafe',
            comment: approve ? 'Fine.' : 'Not safe.',
          },
        ],
      });
      submitted += 1;
    }
  }
  return submitted;
}

/**
 * Every accepted `submitReviewUpdate` of a review workflow, read from its history: what was
 * submitted (the Update's argument) and the review the workflow recorded in its state (the
 * handler's result, the object it keeps), in the order they were accepted.
 */
export async function acceptedReviews(handle: WorkflowHandle): Promise<{ submitted: SubmitReviewInput; recorded?: RecordedReview }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const outcomes = new Map<string, RecordedReview>();
  for (const e of events) {
    const done = e.workflowExecutionUpdateCompletedEventAttributes;
    const payload = done?.outcome?.success?.payloads?.[0];
    if (done?.meta?.updateId && payload) outcomes.set(done.meta.updateId, defaultPayloadConverter.fromPayload<RecordedReview>(payload));
  }
  return events.flatMap((e) => {
    const request = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    const arg = request?.input?.args?.payloads?.[0];
    if (request?.input?.name !== submitReviewUpdate.name || !arg) return [];
    const recorded = outcomes.get(request.meta?.updateId ?? '');
    return [{ submitted: defaultPayloadConverter.fromPayload<SubmitReviewInput>(arg), ...(recorded ? { recorded } : {}) }];
  });
}

/**
 * A pipeline run the tiny test model can be promoted from: small data, lenient evaluation rules
 * (its garbled replies trip the PII check), no crisis floor (the small test split has few crisis
 * prompts), and two reviewers who can take crisis items.
 */
export function promotableRunInput(runName: string): PipelineInput {
  return {
    runName,
    data: { source: { kind: 'synthetic', count: 500, seed: 17 } },
    evaluate: {
      validationSet: { crisisShare: { min: 0, target: 0.15, max: 0.2 } },
      rules: { maxPiiLeaks: 1000, maxSafetyRegression: 1, maxQualityDrop: 1 },
      reviewSample: 8,
      sampling: { maxNewTokens: 24 },
    },
    review: {
      reviewers: [
        { id: 'r1', name: 'R1', specialties: ['crisis'] },
        { id: 'r2', name: 'R2', specialties: ['crisis'] },
      ],
    },
  };
}
