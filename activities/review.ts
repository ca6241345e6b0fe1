import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  NotifyReviewersInputSchema,
  PromoteModelInputSchema,
  RecordReviewInputSchema,
  invalidInput,
  parseInput,
  type NotifyReviewersInput,
  type PromoteModelInput,
  type PromoteModelResult,
  type RecordReviewInput,
  type Reviewer,
} from '../shared/contracts';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { loadReviewers } from '../shared/review/reviewers';

const safeKey = (s: string) => s.replace(/[^\w.@:-]/g, '_');

/** Activities of expert review and promotion (CPU queue). */
export function createReviewActivities(store: ArtifactStore) {
  return {
    /** The reviewer registry from the artifact store (`review/reviewers.json`). */
    async loadReviewersActivity(): Promise<Reviewer[]> {
      try {
        return await loadReviewers(store);
      } catch (err) {
        throw invalidInput((err as Error).message);
      }
    },

    /**
     * Stores one accepted review whole (with its comment) under `review/<review>/reviews/`, so
     * the workflow's state holds scores only. Idempotent: a retry writes the same file.
     */
    async recordReviewActivity(input: RecordReviewInput): Promise<{ commentUri?: string }> {
      const { reviewId, review, at } = parseInput(RecordReviewInputSchema, 'recordReview input', input);
      const file = await store.writeText(
        `review/${safeKey(reviewId)}/reviews/${safeKey(review.itemId)}/${safeKey(review.reviewerId)}.json`,
        `${JSON.stringify({ reviewId, ...review, at }, null, 2)}\n`,
      );
      return review.comment ? { commentUri: file.uri } : {};
    },

    /**
     * Tells reviewers about new assignments and reminders: one JSON notice per reviewer in the
     * review's outbox (`review/<review>/outbox/`), where a mailer or chat bot picks them up, and
     * a log line (ids and counts only).
     */
    async notifyReviewersActivity(input: NotifyReviewersInput): Promise<{ written: number }> {
      const { reviewId, notices } = parseInput(NotifyReviewersInputSchema, 'notifyReviewers input', input);
      const stamp = new Date().toISOString().replace(/[:.]/g, '');
      for (const n of notices) {
        await store.writeText(
          `review/${safeKey(reviewId)}/outbox/${stamp}-${n.kind}-${safeKey(n.reviewerId)}.json`,
          `${JSON.stringify({ reviewId, ...n, at: new Date().toISOString() })}\n`,
        );
        Context.current().log.info('review notice', { reviewId, reviewer: n.reviewerId, kind: n.kind, items: n.itemIds.length });
      }
      return { written: notices.length };
    },

    /**
     * Registers the model as a version (named after its run) with its evaluation and review
     * summaries, and makes it current in one atomic write. Idempotent on retry.
     */
    async promoteModelActivity(input: PromoteModelInput): Promise<PromoteModelResult> {
      const { runId, modelUri, trainingKey, evaluation, review } = parseInput(PromoteModelInputSchema, 'promoteModel input', input);
      const registry = new ModelRegistry(store);
      const previous = await registry.current();
      await registry.register({
        version: runId,
        modelUri,
        runId,
        createdAt: new Date().toISOString(),
        ...(trainingKey ? { trainingKey } : {}),
        evaluation,
        review,
      });
      await registry.promote(runId);
      return { version: runId, modelUri, previous: previous && previous.version !== runId ? previous.version : null };
    },
  };
}
