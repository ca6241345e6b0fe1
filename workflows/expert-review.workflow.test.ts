import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import * as path from 'node:path';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../shared/artifacts';
import type { ExpertReviewInput, ReviewerInput, SubmitReviewInput } from '../shared/contracts';
import { createCpuWorker } from '../workers/factory';
import { tempDir, testEnvironment, timeSkippingEnvironment, uniqueQueue } from '../test/helpers';
import { expertReviewWorkflow } from './expert-review';
import { getReviewStatusQuery, reassignItemUpdate, submitReviewUpdate } from './review-messages';

const REVIEWERS: ReviewerInput[] = [
  { id: 'ana', name: 'Ana', specialties: ['crisis', 'trauma'], lead: true, capacity: 10 },
  { id: 'ben', name: 'Ben', specialties: ['anxiety'], capacity: 10 },
  { id: 'cai', name: 'Cai', specialties: ['crisis', 'grief'], capacity: 10 },
];
const ITEMS = [
  { itemId: 'c1#1', scenario: 'crisis' as const, crisis: true },
  { itemId: 'a1#1', scenario: 'anxiety' as const, crisis: false },
  { itemId: 'g1#3', scenario: 'grief' as const, crisis: false },
];
const HOUR = 3600;

/** Expert review against the real dev server: assignment, the validators, consensus, continue-as-new. */
/**
 * A worker on its own queue against `makeEnv()`'s server, and helpers to start a review and
 * act on it. `teardown`: whether the environment is this suite's own to tear down.
 */
function reviewHarness(makeEnv: () => Promise<TestWorkflowEnvironment>, teardown: boolean) {
  const h = {} as { env: TestWorkflowEnvironment; dir: string };
  let worker: Worker;
  let running: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  const taskQueue = uniqueQueue('review-test');

  beforeAll(async () => {
    t = tempDir();
    h.dir = t.dir;
    h.env = await makeEnv();
    worker = await createCpuWorker({
      connection: h.env.nativeConnection,
      namespace: h.env.namespace ?? 'default',
      taskQueue,
      store: new LocalArtifactStore(path.join(t.dir, 'store')),
    });
    running = worker.run();
  }, 120_000);
  afterAll(async () => {
    worker?.shutdown();
    await running;
    if (teardown) await h.env?.teardown();
    t?.cleanup();
  });

  const start = (
    over: Partial<ExpertReviewInput['config']> = {},
    items = ITEMS,
    name = 'r',
  ): Promise<WorkflowHandle<typeof expertReviewWorkflow>> => {
    const reviewId = `${name}-${Math.random().toString(36).slice(2, 8)}`;
    return h.env.client.workflow.start(expertReviewWorkflow, {
      taskQueue,
      workflowId: `${reviewId}-review`,
      args: [
        {
          reviewId,
          items,
          reviewItemsUri: 'file:///nowhere/review-items.jsonl',
          reviewers: REVIEWERS,
          config: {
            minReviewersPerItem: 2,
            maxReviewersPerItem: 3,
            reminderAfterSeconds: HOUR,
            overdueAfterSeconds: 3 * HOUR,
            deadlineSeconds: 24 * HOUR,
            ...over,
          },
        },
      ],
    });
  };
  const submit = (handle: WorkflowHandle, reviewerId: string, itemId: string, score = 4, extra: Partial<SubmitReviewInput> = {}) =>
    handle.executeUpdate(submitReviewUpdate, {
      args: [
        {
          reviewerId,
          itemId,
          scores: { clinicalAccuracy: score, empathy: score, safety: score },
          safetyLabel: 'safe',
          comment: 'Looks fine.',
          ...extra,
        },
      ],
    });
  const assigned = async (handle: WorkflowHandle, itemId: string) =>
    (await handle.query(getReviewStatusQuery)).items.find((i) => i.itemId === itemId)!.assigned;
  return { h, start, submit, assigned };
}

const rejected = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return ((err as WorkflowUpdateFailedError).cause as Error).message;
};

describe('expertReviewWorkflow (dev server)', () => {
  const { start, submit, assigned } = reviewHarness(testEnvironment, false);

  it('assigns by load with a crisis specialist on crisis items, accepts reviews, and approves with reasons', async () => {
    const h = await start();
    const status = await h.query(getReviewStatusQuery);
    expect(status.overall).toMatchObject({ items: 3, complete: 0, reviewsNeeded: 6 });
    for (const item of status.items) expect(item.assigned).toHaveLength(2);
    expect(status.items[0]!.assigned.some((r) => r === 'ana' || r === 'cai')).toBe(true);
    const load = (id: string) => status.items.filter((i) => i.assigned.includes(id)).length;
    expect(Math.max(load('ana'), load('ben'), load('cai')) - Math.min(load('ana'), load('ben'), load('cai'))).toBeLessThanOrEqual(1);
    for (const item of status.items) for (const r of item.assigned) await submit(h, r, item.itemId, item.crisis ? 5 : 4);
    const result = await h.result();
    expect(result.status).toBe('approved');
    expect(result.reviews).toBe(6);
    expect(result.consensus.passRate).toBe(1);
    expect(result.explanation.length).toBeGreaterThanOrEqual(5);
    expect(result.explanation.every((e) => e.startsWith('pass'))).toBe(true);
    // Set UPDATE_HISTORIES=1 to re-record the replay fixture of a whole review.
    if (process.env.UPDATE_HISTORIES === '1') {
      mkdirSync(path.join(__dirname, '__histories__'), { recursive: true });
      writeFileSync(path.join(__dirname, '__histories__', 'expert-review-v1.json'), historyToJSON(await h.fetchHistory()));
    }
  });

  it('rejects, with a message for the reviewer: unknown reviewer, item not assigned, second submission, scores out of range', async () => {
    const h = await start();
    const item = (await h.query(getReviewStatusQuery)).items[1]!;
    const reviewer = item.assigned[0]!;
    const outsider = REVIEWERS.map((r) => r.id).find((r) => !item.assigned.includes(r))!;
    expect(await rejected(submit(h, 'zed', item.itemId))).toMatch(/unknown reviewer zed/);
    expect(await rejected(submit(h, outsider, item.itemId))).toMatch(
      new RegExp(`item ${item.itemId.replace('#', '\\#')} is not assigned to reviewer ${outsider}`),
    );
    expect(await rejected(submit(h, reviewer, 'nope#0'))).toMatch(/not part of review/);
    expect(await rejected(submit(h, reviewer, item.itemId, 6))).toMatch(/scores\.clinicalAccuracy: scores run from 1 to 5/);
    expect(await rejected(submit(h, reviewer, item.itemId, 3, { safetyLabel: 'fine' as never }))).toMatch(/safetyLabel/);
    const recorded = await submit(h, reviewer, item.itemId);
    expect(recorded).toMatchObject({ reviewerId: reviewer, itemId: item.itemId, scores: { safety: 4 } });
    expect(recorded.commentUri).toMatch(/review\/.*\/reviews\//);
    expect(await rejected(submit(h, reviewer, item.itemId))).toMatch(/already reviewed/);
    // Only accepted reviews are in the state.
    expect((await h.query(getReviewStatusQuery)).overall.reviewsSubmitted).toBe(1);
    await h.terminate('test done');
  });

  it('lets a lead reassign an item, refusing non-leads and a crisis item without a specialist', async () => {
    const h = await start({ minReviewersPerItem: 1, maxReviewersPerItem: 2 });
    const from = (await assigned(h, 'a1#1'))[0]!;
    const to = REVIEWERS.map((r) => r.id).find((r) => r !== from)!;
    expect(
      await rejected(h.executeUpdate(reassignItemUpdate, { args: [{ leadId: 'ben', itemId: 'a1#1', fromReviewerId: from, toReviewerId: to }] })),
    ).toMatch(/not a lead reviewer/);
    const moved = await h.executeUpdate(reassignItemUpdate, { args: [{ leadId: 'ana', itemId: 'a1#1', fromReviewerId: from, toReviewerId: to }] });
    expect(moved.assigned).toEqual([to]);
    const crisisHolder = (await assigned(h, 'c1#1'))[0]!;
    expect(
      await rejected(
        h.executeUpdate(reassignItemUpdate, { args: [{ leadId: 'ana', itemId: 'c1#1', fromReviewerId: crisisHolder, toReviewerId: 'ben' }] }),
      ),
    ).toMatch(/crisis item and needs a reviewer with the crisis specialty/);
    expect(await rejected(submit(h, from, 'a1#1'))).toMatch(/not assigned/);
    await h.terminate('test done');
  });

  it('adds a reviewer to an item whose reviews disagree, up to the maximum, and waits for that review', async () => {
    const h = await start({ minReviewersPerItem: 2, maxReviewersPerItem: 3 }, [ITEMS[1]!]);
    const [first, second] = await assigned(h, 'a1#1');
    await submit(h, first!, 'a1#1', 1);
    await submit(h, second!, 'a1#1', 5);
    const status = await h.query(getReviewStatusQuery);
    const item = status.items[0]!;
    expect(item.assigned).toHaveLength(3);
    expect(item.needed).toBe(1);
    expect(status.events.some((e) => e.kind === 'disagreement' && e.detail.includes('differ by 4'))).toBe(true);
    const third = item.assigned.find((r) => r !== first && r !== second)!;
    await submit(h, third, 'a1#1', 4);
    const result = await h.result();
    expect(result.reviews).toBe(3);
    expect(result.consensus.items[0]!.spread.safety).toBe(4);
  });

  it('rejects a model whose crisis reply reviewers score unsafe, explaining the rule', async () => {
    const h = await start({ minReviewersPerItem: 2 });
    const status = await h.query(getReviewStatusQuery);
    for (const item of status.items)
      for (const r of item.assigned) await submit(h, r, item.itemId, item.crisis ? 2 : 4, item.crisis ? { safetyLabel: 'unsafe' } : {});
    const result = await h.result();
    expect(result.status).toBe('rejected');
    expect(result.explanation.filter((e) => e.startsWith('FAIL')).join('\n')).toMatch(/c1#1/);
  });

  it('continues as new on a long review, carrying assignments and reviews', async () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ itemId: `x${i}#1`, scenario: 'anxiety' as const, crisis: false }));
    const h = await start({ minReviewersPerItem: 1, continueAsNewAfterEvents: 100 }, many, 'long');
    const firstRun = (await h.describe()).runId;
    for (const item of (await h.query(getReviewStatusQuery)).items) {
      for (;;) {
        // The handle follows the chain; an update sent while the run hands over is retried.
        try {
          await submit(h, item.assigned[0]!, item.itemId);
          break;
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) throw err;
        }
      }
    }
    const result = await h.result();
    // Every review survived the hand-over; with one reviewer per item there is no agreement to measure, so the decision cannot stand.
    expect(result).toMatchObject({ status: 'rejected', reviews: 25 });
    expect(result.consensus.reviewedItems).toBe(25);
    expect(result.explanation.find((e) => e.startsWith('FAIL'))).toMatch(/alpha/i);
    expect((await h.describe()).runId).not.toBe(firstRun);
  }, 120_000);
});

describe('expertReviewWorkflow timers (time-skipping test server)', () => {
  const { h: ctx, start, submit, assigned } = reviewHarness(timeSkippingEnvironment, true);

  it('reminds after the delay and hands overdue items to another reviewer (time skipped)', async () => {
    const h = await start({ minReviewersPerItem: 1 });
    const before = await assigned(h, 'a1#1');
    await ctx.env.sleep(`${HOUR + 60} seconds`);
    let status = await h.query(getReviewStatusQuery);
    expect(status.events.filter((e) => e.kind === 'reminder').length).toBeGreaterThan(0);
    await ctx.env.sleep(`${2 * HOUR} seconds`);
    status = await h.query(getReviewStatusQuery);
    const reassigned = status.events.filter((e) => e.kind === 'overdue-reassigned');
    expect(reassigned.length).toBe(3);
    expect(await assigned(h, 'a1#1')).not.toEqual(before);
    // The outbox holds the notices a mailer would send.
    const outbox = path.join(ctx.dir, 'store', 'review', h.workflowId.replace(/-review$/, ''), 'outbox');
    const kinds = readdirSync(outbox).map((f) => /-(assigned|reminder)-/.exec(f)?.[1]);
    expect(kinds).toEqual(expect.arrayContaining(['assigned', 'reminder']));
    await h.terminate('test done');
  });
  it('closes as incomplete at the deadline, saying what was missing, and refuses reviews after it', async () => {
    const h = await start({ minReviewersPerItem: 1, deadlineSeconds: 2 * HOUR, overdueAfterSeconds: 10 * HOUR });
    const item = (await h.query(getReviewStatusQuery)).items[0]!;
    await submit(h, item.assigned[0]!, item.itemId, 5);
    const result = await h.result();
    expect(result.status).toBe('incomplete');
    expect(result.explanation.join('\n')).toMatch(/a1#1|g1#3/);
    expect(result.reviews).toBe(1);
    await expect(submit(h, item.assigned[0]!, 'a1#1')).rejects.toThrow();
  });
});
