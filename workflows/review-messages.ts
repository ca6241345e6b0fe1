import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { REVIEW_MESSAGES, type ReassignItemInput, type RecordedReview, type ReviewStatus, type SubmitReviewInput } from '../shared/contracts';

/** A reviewer's scores for one item. Rejected (with the reason) for an unknown reviewer, an item not assigned to them, a second submission, scores out of range, or a closed review. */
export const submitReviewUpdate = defineUpdate<RecordedReview, [SubmitReviewInput]>(REVIEW_MESSAGES.submit);

/** A lead reviewer moves an item from one reviewer to another. */
export const reassignItemUpdate = defineUpdate<ReviewStatus['items'][number], [ReassignItemInput]>(REVIEW_MESSAGES.reassign);

/** Where the review is, per item and overall. */
export const getReviewStatusQuery = defineQuery<ReviewStatus>(REVIEW_MESSAGES.status);
