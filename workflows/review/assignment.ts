import type { Assignment, ReviewItemRef, Reviewer } from '../../shared/contracts';

// Who reviews what. Pure and deterministic (it runs inside workflow code): the same input always
// gives the same assignments, so a replayed workflow makes the same choices.

/** The specialty a reviewer needs to take the first seat on a crisis item. */
const CRISIS = 'crisis';

/** Options for {@link assignItems}. */
export interface AssignOptions {
  /** Live assignees each item should have. */
  perItem: number;
  /** Stamped on every new assignment (workflow time, never the wall clock). */
  nowIso: string;
}

/** What {@link assignItems} did. */
export interface AssignResult {
  /** New assignments, in the order they were made. */
  added: Assignment[];
  /** Items still short of assignees, one entry per item, with why. */
  unassigned: { itemId: string; reason: string }[];
}

const isCrisisSpecialist = (r: Reviewer | undefined): boolean => r?.specialties.includes(CRISIS) ?? false;

/** Open (not done) assignments per reviewer id. */
function openLoads(assignments: readonly Assignment[]): Map<string, number> {
  const load = new Map<string, number>();
  for (const a of assignments) if (!a.done) load.set(a.reviewerId, (load.get(a.reviewerId) ?? 0) + 1);
  return load;
}

/** Reviewer ids assigned per item id (done or not). */
function assigneesByItem(assignments: readonly Assignment[]): Map<string, Set<string>> {
  const by = new Map<string, Set<string>>();
  for (const a of assignments) {
    let s = by.get(a.itemId);
    if (!s) by.set(a.itemId, (s = new Set()));
    s.add(a.reviewerId);
  }
  return by;
}

/**
 * Orders candidates: least open load first (assignment is by load), then scenario specialists,
 * then list order starting at `start` (wrapping), so equal reviewers take turns.
 */
function rank(
  candidates: readonly { reviewer: Reviewer; index: number }[],
  item: ReviewItemRef,
  load: ReadonlyMap<string, number>,
  start: number,
  total: number,
) {
  const key = (c: { reviewer: Reviewer; index: number }) =>
    [load.get(c.reviewer.id) ?? 0, c.reviewer.specialties.includes(item.scenario) ? 0 : 1, (c.index - start + total) % total] as const;
  return [...candidates].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
  });
}

/**
 * Brings every item up to `perItem` live assignees.
 *
 * Every assignment passed in counts as live (done or not): the caller passes only those still
 * in force. A reviewer can take an item when they are available, their open (not done)
 * assignments are below their capacity, and they are not already on the item. Among those,
 * the least loaded come first, then reviewers whose specialties include the item's scenario,
 * then a round-robin pointer over the reviewer list, so that ties spread evenly; the pointer
 * starts at the first reviewer on every call, which keeps the result a function of the input.
 * Items are served in the given order, so earlier items get first pick when capacity is short.
 *
 * Crisis items: while none of an item's assignees is a crisis specialist, one seat is kept for
 * one. If a crisis specialist can take it, they are picked first; if none can, the seat stays
 * empty (no non-specialist fills it), the item is reported unassigned with the reason, and the
 * item's other seats are filled as usual — so a later call, when a specialist has capacity,
 * fills the kept seat.
 *
 * @returns the new assignments (`assignedAt: nowIso`, not reminded, not done) and, for every
 *   item still short of `perItem` assignees, the reason.
 */
export function assignItems(
  items: readonly ReviewItemRef[],
  reviewers: readonly Reviewer[],
  assignments: readonly Assignment[],
  options: AssignOptions,
): AssignResult {
  const load = openLoads(assignments);
  const onItem = assigneesByItem(assignments);
  const byId = new Map(reviewers.map((r) => [r.id, r]));
  const indexed = reviewers.map((reviewer, index) => ({ reviewer, index }));
  const added: Assignment[] = [];
  const unassigned: AssignResult['unassigned'] = [];
  let pointer = 0;

  for (const item of items) {
    const assignees = onItem.get(item.itemId) ?? new Set<string>();
    onItem.set(item.itemId, assignees);
    let seats = options.perItem - assignees.size;
    if (seats <= 0) continue;

    const candidates = () => indexed.filter(({ reviewer: r }) => r.available && (load.get(r.id) ?? 0) < r.capacity && !assignees.has(r.id));
    const take = (reviewer: Reviewer, index: number): void => {
      added.push({ reviewerId: reviewer.id, itemId: item.itemId, assignedAt: options.nowIso, reminded: false, done: false });
      assignees.add(reviewer.id);
      load.set(reviewer.id, (load.get(reviewer.id) ?? 0) + 1);
      pointer = (index + 1) % indexed.length;
      seats--;
    };

    const reasons: string[] = [];
    if (item.crisis && ![...assignees].some((id) => isCrisisSpecialist(byId.get(id)))) {
      const specialist = rank(
        candidates().filter((c) => isCrisisSpecialist(c.reviewer)),
        item,
        load,
        pointer,
        indexed.length,
      )[0];
      if (specialist) take(specialist.reviewer, specialist.index);
      else {
        seats--; // kept for a crisis specialist
        reasons.push(
          `crisis item needs a crisis specialist first, and none can take it (${whyNot(reviewers, assignees, load, isCrisisSpecialist)}); that seat stays empty`,
        );
      }
    }

    while (seats > 0) {
      const best = rank(candidates(), item, load, pointer, indexed.length)[0];
      if (!best) break;
      take(best.reviewer, best.index);
    }
    if (seats > 0) {
      reasons.push(`${seats} more reviewer(s) needed and none can take it (${whyNot(reviewers, assignees, load, () => true)})`);
    }
    if (reasons.length > 0) {
      const have = assignees.size;
      unassigned.push({ itemId: item.itemId, reason: `${have} of ${options.perItem} assignee(s): ${reasons.join('; ')}` });
    }
  }
  return { added, unassigned };
}

/** Why the reviewers that match `which` cannot take an item, as counts. */
function whyNot(
  reviewers: readonly Reviewer[],
  assignees: ReadonlySet<string>,
  load: ReadonlyMap<string, number>,
  which: (r: Reviewer) => boolean,
): string {
  const pool = reviewers.filter(which);
  const onIt = pool.filter((r) => assignees.has(r.id)).length;
  const off = pool.filter((r) => !assignees.has(r.id) && !r.available).length;
  const full = pool.filter((r) => !assignees.has(r.id) && r.available && (load.get(r.id) ?? 0) >= r.capacity).length;
  if (pool.length === 0) return 'no such reviewer in the registry';
  return `of ${pool.length} such reviewer(s): ${onIt} already on the item, ${off} unavailable, ${full} at capacity`;
}

/**
 * Picks another reviewer for an item taken from `from` (overdue, or moved by a lead).
 *
 * The same rules as {@link assignItems}: available, open assignments below capacity, not already
 * on the item, and never `from` itself. When `from` was the item's only crisis specialist on a
 * crisis item, only a crisis specialist may replace them. Otherwise, on a crisis item without a
 * specialist, specialists come first; then least open load, scenario specialists, list order.
 * `assignments` may still hold `from`'s assignment of the item; it is disregarded.
 *
 * @returns the reviewer id, or `undefined` when nobody can take the item.
 */
export function pickReplacement(
  item: ReviewItemRef,
  from: string,
  reviewers: readonly Reviewer[],
  assignments: readonly Assignment[],
): string | undefined {
  const byId = new Map(reviewers.map((r) => [r.id, r]));
  const load = openLoads(assignments);
  const others = new Set([...(assigneesByItem(assignments).get(item.itemId) ?? [])].filter((id) => id !== from));
  const specialistRemains = [...others].some((id) => isCrisisSpecialist(byId.get(id)));
  const mustBeSpecialist = item.crisis && isCrisisSpecialist(byId.get(from)) && !specialistRemains;
  const preferSpecialist = item.crisis && !specialistRemains;

  const candidates = reviewers
    .map((reviewer, index) => ({ reviewer, index }))
    .filter(({ reviewer: r }) => r.id !== from && r.available && (load.get(r.id) ?? 0) < r.capacity && !others.has(r.id))
    .filter(({ reviewer: r }) => !mustBeSpecialist || isCrisisSpecialist(r));
  if (candidates.length === 0) return undefined;

  const ranked = rank(candidates, item, load, 0, reviewers.length);
  if (preferSpecialist) return (ranked.find((c) => isCrisisSpecialist(c.reviewer)) ?? ranked[0])!.reviewer.id;
  return ranked[0]!.reviewer.id;
}
