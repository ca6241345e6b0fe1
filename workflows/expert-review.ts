import { ApplicationFailure, allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu';
import {
  ErrorTypes,
  ExpertReviewInputSchema,
  parseInput,
  type ExpertReviewInput,
  type ExpertReviewResult,
  type RecordedReview,
} from '../shared/contracts';
import { RETRY_POLICY } from './activity-options';
import { computeConsensus, decideReview } from './review/consensus';
import { ExpertReviewState, ReviewRejection } from './review-state';
import { getReviewStatusQuery, reassignItemUpdate, submitReviewUpdate } from './review-messages';

const activities = proxyActivities<CpuActivities>({
  startToCloseTimeout: '1 minute',
  retry: { ...RETRY_POLICY, maximumAttempts: 10 },
});

const rejection = (err: unknown) => (err instanceof ReviewRejection ? ApplicationFailure.nonRetryable(err.message, ErrorTypes.ReviewRejected) : err);

/**
 * Clinical reviewers decide whether a model may be promoted. The items (every crisis item of
 * the evaluation and a stratified sample) are assigned by load, crisis items to at least one
 * crisis specialist. Reviewers submit scores with `submitReviewUpdate` (the validator refuses
 * unknown reviewers, unassigned items, second submissions, out-of-range scores and a closed
 * review, with a message for the reviewer); a lead moves items with `reassignItemUpdate`;
 * `getReviewStatusQuery` shows where it is. Timers send reminders, hand overdue items to other
 * reviewers, and close the review as incomplete at the deadline. When every item has its
 * reviews, consensus (means, spreads, pass rate, Krippendorff's alpha) decides by the rules in
 * the config, and the result explains itself. Long reviews continue as new with their state.
 */
export async function expertReviewWorkflow(input: ExpertReviewInput): Promise<ExpertReviewResult> {
  const parsed = parseInput(ExpertReviewInputSchema, 'expert review input', input);
  const { reviewId, items, reviewItemsUri, reviewers, config, state: carried } = parsed;
  const now = () => new Date().toISOString();
  const state = new ExpertReviewState(reviewId, items, reviewers, config, reviewItemsUri, now(), carried);

  setHandler(getReviewStatusQuery, () => state.status());
  setHandler(
    submitReviewUpdate,
    async (submission): Promise<RecordedReview> => {
      let s: ReturnType<ExpertReviewState['begin']>;
      try {
        s = state.begin(submission);
      } catch (err) {
        throw rejection(err);
      }
      const at = now();
      let commentUri: string | undefined;
      try {
        // The comment goes to the artifact store; the workflow keeps scores and where the comment is.
        ({ commentUri } = await activities.recordReviewActivity({ reviewId, review: s, at }));
      } catch (err) {
        state.abandon(s);
        throw err;
      }
      const review: RecordedReview = {
        reviewerId: s.reviewerId,
        itemId: s.itemId,
        scores: s.scores,
        safetyLabel: s.safetyLabel,
        at,
        ...(commentUri ? { commentUri } : {}),
      };
      const added = state.record(review);
      if (added) await activities.notifyReviewersActivity({ reviewId, notices: [{ reviewerId: added, kind: 'assigned', itemIds: [s.itemId] }] });
      return review;
    },
    {
      validator: (submission) => {
        state.validateSubmission(submission);
      },
    },
  );
  setHandler(
    reassignItemUpdate,
    async (request) => {
      try {
        state.reassign(request, now());
      } catch (err) {
        throw rejection(err);
      }
      await activities.notifyReviewersActivity({
        reviewId,
        notices: [{ reviewerId: request.toReviewerId, kind: 'assigned', itemIds: [request.itemId] }],
      });
      return state.status().items.find((i) => i.itemId === request.itemId)!;
    },
    {
      validator: (request) => {
        state.validateReassign(request);
      },
    },
  );

  if (!carried) {
    const assigned = state.assign(now());
    if (assigned.length > 0)
      await activities.notifyReviewersActivity({
        reviewId,
        notices: assigned.map((reviewerId) => ({
          reviewerId,
          kind: 'assigned' as const,
          itemIds: state
            .status()
            .items.filter((i) => i.assigned.includes(reviewerId))
            .map((i) => i.itemId),
        })),
      });
  }

  let closedByDeadline = false;
  // A long review (many submissions, each an Update in history) continues as new with its state.
  const historyLong = () => workflowInfo().historyLength > config.continueAsNewAfterEvents || workflowInfo().continueAsNewSuggested;
  for (;;) {
    if (state.complete()) break;
    const wait = state.nextWakeMs() - Date.now();
    if (wait > 0) await condition(() => state.complete() || historyLong(), wait);
    if (state.complete()) break;
    if (historyLong()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof expertReviewWorkflow>({ ...parsed, state: state.snapshot() });
    }
    const nowMs = Date.now();
    if (nowMs >= state.deadlineMs) {
      closedByDeadline = true;
      break;
    }
    const reminders = state.dueReminders(nowMs);
    const moved = state.reassignOverdue(nowMs);
    const notices = [
      ...[...reminders].map(([reviewerId, itemIds]) => ({ reviewerId, kind: 'reminder' as const, itemIds })),
      ...[...moved].map(([reviewerId, itemIds]) => ({ reviewerId, kind: 'assigned' as const, itemIds })),
    ];
    if (notices.length > 0) await activities.notifyReviewersActivity({ reviewId, notices });
  }

  // No new reviews from here on; let accepted ones finish recording.
  state.closed = true;
  await condition(allHandlersFinished);
  const consensus = computeConsensus(state.itemList(), state.allReviews(), config.rules);
  const decision = decideReview(state.itemList(), consensus, config.rules, {
    complete: state.hasMinimum(),
    closedByDeadline,
    minReviewersPerItem: config.minReviewersPerItem,
  });
  state.decision = decision;
  return { reviewId, ...decision, consensus, reviews: state.allReviews().length, closedAt: now() };
}
