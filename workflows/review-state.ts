import {
  SubmitReviewInputSchema,
  ReassignItemInputSchema,
  describeZodError,
  type Assignment,
  type RecordedReview,
  type ReviewConfig,
  type ReviewDecision,
  type ReviewItemRef,
  type Reviewer,
  type ReviewState,
  type ReviewStatus,
  type SubmitReviewInput,
  type ReassignItemInput,
} from '../shared/contracts';
import { assignItems, pickReplacement } from './review/assignment';

/** Most events kept in state (oldest dropped first), so a long review's state stays small. */
const MAX_EVENTS = 200;

/** A submission or reassignment the review refuses; its message is for the person who sent it. */
export class ReviewRejection extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewRejection';
  }
}

/**
 * The state of one expert review, kept apart from the workflow so it can be tested without a
 * server: assignments, accepted reviews, reminders and reassignments, and the checks a
 * submission must pass. Deterministic: times come in as arguments.
 */
export class ExpertReviewState {
  private readonly items: Map<string, ReviewItemRef>;
  private readonly reviewers: Map<string, Reviewer>;
  private assignments: Assignment[];
  private readonly reviews: RecordedReview[];
  private readonly events: ReviewState['events'];
  /** Submissions accepted by the validator whose handler has not finished (no double submits in between). */
  private readonly pending = new Set<string>();
  readonly startedAt: string;
  readonly runs: number;
  closed = false;
  decision: ReviewDecision | undefined;

  constructor(
    readonly reviewId: string,
    items: readonly ReviewItemRef[],
    reviewers: readonly Reviewer[],
    private readonly config: ReviewConfig,
    readonly reviewItemsUri: string,
    nowIso: string,
    carried?: ReviewState,
  ) {
    this.items = new Map(items.map((i) => [i.itemId, i]));
    this.reviewers = new Map(reviewers.map((r) => [r.id, r]));
    this.assignments = carried ? [...carried.assignments] : [];
    this.reviews = carried ? [...carried.reviews] : [];
    this.events = carried ? [...carried.events] : [];
    this.startedAt = carried?.startedAt ?? nowIso;
    this.runs = (carried?.runs ?? 0) + 1;
  }

  get deadlineMs(): number {
    return Date.parse(this.startedAt) + this.config.deadlineSeconds * 1000;
  }

  private key(reviewerId: string, itemId: string): string {
    return `${reviewerId}\u0000${itemId}`;
  }

  private event(at: string, kind: string, detail: string): void {
    this.events.push({ at, kind, detail });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  /** Gives every item its minimum of reviewers (load-balanced; crisis items get a crisis specialist). */
  assign(nowIso: string): string[] {
    const { added, unassigned } = assignItems([...this.items.values()], [...this.reviewers.values()], this.assignments, {
      perItem: this.config.minReviewersPerItem,
      nowIso,
    });
    this.assignments.push(...added);
    for (const u of unassigned) this.event(nowIso, 'unassigned', `${u.itemId}: ${u.reason}`);
    return [...new Set(added.map((a) => a.reviewerId))];
  }

  reviewsOf(itemId: string): RecordedReview[] {
    return this.reviews.filter((r) => r.itemId === itemId);
  }

  /** Every item has its minimum of reviews. */
  hasMinimum(): boolean {
    for (const id of this.items.keys()) if (this.reviewsOf(id).length < this.config.minReviewersPerItem) return false;
    return true;
  }

  /** Every item has its minimum of reviews and nobody still owes one (an extra reviewer after a disagreement). */
  complete(): boolean {
    return this.hasMinimum() && this.assignments.every((a) => a.done);
  }

  /**
   * After a review: when an item's reviews (at least the minimum) differ by `disagreementSpread`
   * or more on a dimension and it has fewer than the maximum of reviewers, one more reviewer is
   * assigned. Returns who got it.
   */
  private escalateDisagreement(itemId: string, nowIso: string): string | undefined {
    const reviews = this.reviewsOf(itemId);
    if (reviews.length < this.config.minReviewersPerItem) return undefined;
    const onItem = this.assignments.filter((a) => a.itemId === itemId);
    if (onItem.length >= this.config.maxReviewersPerItem || onItem.some((a) => !a.done)) return undefined;
    const spread = (['clinicalAccuracy', 'empathy', 'safety'] as const).map(
      (d) => Math.max(...reviews.map((r) => r.scores[d])) - Math.min(...reviews.map((r) => r.scores[d])),
    );
    if (Math.max(...spread) < this.config.disagreementSpread) return undefined;
    const { added } = assignItems([this.items.get(itemId)!], [...this.reviewers.values()], this.assignments, { perItem: onItem.length + 1, nowIso });
    this.assignments.push(...added);
    const to = added[0]?.reviewerId;
    this.event(
      nowIso,
      'disagreement',
      `${itemId}: scores differ by ${Math.max(...spread)}; ${to ? `${to} added as another reviewer` : 'nobody free to add'}`,
    );
    return to;
  }

  /**
   * Why a submission cannot be accepted, or nothing: the validator. Checks the shape (scores
   * 1-5), that the review is open, the reviewer and item exist, the item is assigned to that
   * reviewer, and that they have not reviewed it already.
   */
  validateSubmission(input: unknown): SubmitReviewInput & { comment: string } {
    const parsed = SubmitReviewInputSchema.safeParse(input);
    if (!parsed.success) throw new ReviewRejection(describeZodError('invalid review', parsed.error));
    const s = parsed.data;
    if (this.closed)
      throw new ReviewRejection(`the review ${this.reviewId} is closed (${this.decision?.status ?? 'closing'}); no more reviews are accepted`);
    if (!this.reviewers.has(s.reviewerId)) throw new ReviewRejection(`unknown reviewer ${s.reviewerId}`);
    if (!this.items.has(s.itemId)) throw new ReviewRejection(`item ${s.itemId} is not part of review ${this.reviewId}`);
    if (this.reviews.some((r) => r.reviewerId === s.reviewerId && r.itemId === s.itemId) || this.pending.has(this.key(s.reviewerId, s.itemId)))
      throw new ReviewRejection(`reviewer ${s.reviewerId} already reviewed item ${s.itemId}`);
    if (!this.assignments.some((a) => a.reviewerId === s.reviewerId && a.itemId === s.itemId))
      throw new ReviewRejection(`item ${s.itemId} is not assigned to reviewer ${s.reviewerId}`);
    return s;
  }

  /** Validates a submission and holds its place while its comment is stored (no second submission meanwhile). */
  begin(input: unknown): SubmitReviewInput & { comment: string } {
    const s = this.validateSubmission(input);
    this.pending.add(this.key(s.reviewerId, s.itemId));
    return s;
  }

  /** Records an accepted review and closes its assignment; returns a reviewer added because the reviews disagree. */
  record(review: RecordedReview): string | undefined {
    this.pending.delete(this.key(review.reviewerId, review.itemId));
    this.reviews.push(review);
    for (const a of this.assignments) if (a.reviewerId === review.reviewerId && a.itemId === review.itemId) a.done = true;
    return this.escalateDisagreement(review.itemId, review.at);
  }

  abandon(s: SubmitReviewInput): void {
    this.pending.delete(this.key(s.reviewerId, s.itemId));
  }

  /** Why a lead's reassignment cannot be done, or the parsed request: the validator. */
  validateReassign(input: unknown): ReassignItemInput {
    const parsed = ReassignItemInputSchema.safeParse(input);
    if (!parsed.success) throw new ReviewRejection(describeZodError('invalid reassignment', parsed.error));
    const r = parsed.data;
    if (this.closed) throw new ReviewRejection(`the review ${this.reviewId} is closed`);
    const lead = this.reviewers.get(r.leadId);
    if (!lead) throw new ReviewRejection(`unknown reviewer ${r.leadId}`);
    if (!lead.lead) throw new ReviewRejection(`reviewer ${r.leadId} is not a lead reviewer and cannot reassign items`);
    const item = this.items.get(r.itemId);
    if (!item) throw new ReviewRejection(`item ${r.itemId} is not part of review ${this.reviewId}`);
    const from = this.assignments.find((a) => a.reviewerId === r.fromReviewerId && a.itemId === r.itemId);
    if (!from) throw new ReviewRejection(`item ${r.itemId} is not assigned to reviewer ${r.fromReviewerId}`);
    if (from.done) throw new ReviewRejection(`reviewer ${r.fromReviewerId} already reviewed item ${r.itemId}; a submitted review is not moved`);
    const to = this.reviewers.get(r.toReviewerId);
    if (!to) throw new ReviewRejection(`unknown reviewer ${r.toReviewerId}`);
    if (!to.available) throw new ReviewRejection(`reviewer ${r.toReviewerId} is not available`);
    if (this.assignments.some((a) => a.reviewerId === r.toReviewerId && a.itemId === r.itemId))
      throw new ReviewRejection(`item ${r.itemId} is already assigned to reviewer ${r.toReviewerId}`);
    const open = this.assignments.filter((a) => a.reviewerId === r.toReviewerId && !a.done).length;
    if (open >= to.capacity) throw new ReviewRejection(`reviewer ${r.toReviewerId} is at capacity (${to.capacity} open items)`);
    if (item.crisis && !to.specialties.includes('crisis')) {
      const others = this.assignments
        .filter((a) => a.itemId === r.itemId && a.reviewerId !== r.fromReviewerId)
        .some((a) => this.reviewers.get(a.reviewerId)?.specialties.includes('crisis'));
      if (!others)
        throw new ReviewRejection(`item ${r.itemId} is a crisis item and needs a reviewer with the crisis specialty; ${r.toReviewerId} has none`);
    }
    return r;
  }

  /** Moves an item from one reviewer to another (validated first). */
  reassign(input: ReassignItemInput, nowIso: string, kind = 'reassigned'): void {
    const r = this.validateReassign(input);
    this.moveAssignment(r.itemId, r.fromReviewerId, r.toReviewerId, nowIso, kind, `by ${r.leadId}`);
  }

  private moveAssignment(itemId: string, from: string, to: string, nowIso: string, kind: string, why: string): void {
    this.assignments = this.assignments.filter((a) => !(a.reviewerId === from && a.itemId === itemId));
    this.assignments.push({ reviewerId: to, itemId, assignedAt: nowIso, reminded: false, done: false });
    this.event(nowIso, kind, `${itemId}: ${from} -> ${to} (${why})`);
  }

  /** When the next timer is due: a reminder, an overdue assignment, or the deadline. */
  nextWakeMs(): number {
    let next = this.deadlineMs;
    for (const a of this.assignments) {
      if (a.done) continue;
      const at = Date.parse(a.assignedAt);
      if (!a.reminded) next = Math.min(next, at + this.config.reminderAfterSeconds * 1000);
      if (!a.overdueNoticed) next = Math.min(next, at + this.config.overdueAfterSeconds * 1000);
    }
    return next;
  }

  /** Open assignments whose reminder is due, grouped by reviewer (marked reminded). */
  dueReminders(nowMs: number): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const a of this.assignments) {
      if (a.done || a.reminded || Date.parse(a.assignedAt) + this.config.reminderAfterSeconds * 1000 > nowMs) continue;
      a.reminded = true;
      out.set(a.reviewerId, [...(out.get(a.reviewerId) ?? []), a.itemId]);
    }
    const nowIso = new Date(nowMs).toISOString();
    for (const [reviewer, items] of out) this.event(nowIso, 'reminder', `${reviewer}: ${items.length} open item${items.length === 1 ? '' : 's'}`);
    return out;
  }

  /** Takes overdue items from their reviewers and gives them to others where someone can take them; returns who got what. */
  reassignOverdue(nowMs: number): Map<string, string[]> {
    const nowIso = new Date(nowMs).toISOString();
    const moved = new Map<string, string[]>();
    for (const a of [...this.assignments]) {
      if (a.done || a.overdueNoticed || Date.parse(a.assignedAt) + this.config.overdueAfterSeconds * 1000 > nowMs) continue;
      const item = this.items.get(a.itemId)!;
      const to = pickReplacement(item, a.reviewerId, [...this.reviewers.values()], this.assignments);
      if (to) {
        this.moveAssignment(a.itemId, a.reviewerId, to, nowIso, 'overdue-reassigned', `open for ${this.config.overdueAfterSeconds} s`);
        moved.set(to, [...(moved.get(to) ?? []), a.itemId]);
      } else {
        a.overdueNoticed = true;
        this.event(nowIso, 'overdue', `${a.itemId}: ${a.reviewerId} is overdue and nobody else can take it`);
      }
    }
    return moved;
  }

  allReviews(): RecordedReview[] {
    return [...this.reviews];
  }

  itemList(): ReviewItemRef[] {
    return [...this.items.values()];
  }

  snapshot(): ReviewState {
    return {
      assignments: this.assignments.map((a) => ({ ...a })),
      reviews: [...this.reviews],
      events: [...this.events],
      startedAt: this.startedAt,
      runs: this.runs,
    };
  }

  status(): ReviewStatus {
    const items = [...this.items.values()].map((i) => ({
      itemId: i.itemId,
      scenario: i.scenario,
      crisis: i.crisis,
      assigned: this.assignments.filter((a) => a.itemId === i.itemId).map((a) => a.reviewerId),
      reviewedBy: this.reviewsOf(i.itemId).map((r) => r.reviewerId),
      needed: Math.max(
        Math.max(0, this.config.minReviewersPerItem - this.reviewsOf(i.itemId).length),
        this.assignments.filter((a) => a.itemId === i.itemId && !a.done).length,
      ),
    }));
    return {
      reviewId: this.reviewId,
      status: this.decision?.status ?? 'open',
      reviewItemsUri: this.reviewItemsUri,
      deadlineAt: new Date(this.deadlineMs).toISOString(),
      items,
      overall: {
        items: items.length,
        complete: items.filter((i) => i.needed === 0).length,
        reviewsSubmitted: this.reviews.length,
        reviewsNeeded: items.reduce((n, i) => n + i.needed, 0),
      },
      events: [...this.events],
      ...(this.decision ? { decision: this.decision } : {}),
    };
  }
}
