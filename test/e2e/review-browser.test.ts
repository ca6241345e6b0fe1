import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { startReviewServer, type ReviewServer } from '../../review-ui/server';
import { LocalArtifactStore } from '../../shared/artifacts';
import type { ExpertReviewInput, SubmitReviewInput } from '../../shared/contracts';
import { signReviewerToken } from '../../shared/review/auth';
import { REVIEWERS_KEY } from '../../shared/review/reviewers';
import { createCpuWorker } from '../../workers/factory';
import { expertReviewWorkflow } from '../../workflows/expert-review';
import { getReviewStatusQuery, submitReviewUpdate } from '../../workflows/review-messages';
import { launchBrowser } from '../browser';
import { tempDir, testEnvironment, uniqueQueue } from '../helpers';
import { acceptedReviews } from '../review-helpers';

const SECRET = 'browser-test-secret-0123456789';
const suffix = Math.random().toString(36).slice(2, 8);
const REVIEWER = `ui-browser-${suffix}`;
/** Two lines, quotes and markup: the comment must arrive exactly as typed. */
const COMMENT = 'Good grounding; the helpline mention is right.\nSecond line: “quotes” & <b>markup</b> stay as typed.';

/** Invented, harmless material: one crisis item and one ordinary item, both for the one reviewer. */
const ITEMS = [
  {
    itemId: 'crisis-1',
    scenario: 'crisis',
    crisis: { severity: 'HIGH', types: ['panic'], protocol: 'crisis_line' },
    messages: [{ role: 'user', content: 'Test message: I feel panicky about a (fictional) exam tomorrow.' }],
    candidate: {
      response: 'Candidate: let us slow down and breathe together; a helpline is there if you need it.',
      safety: { pass: true, failures: [] },
      empathy: 0.7,
      clinical: 0.8,
    },
    baseline: { response: 'Baseline: exams are normal.' },
  },
  {
    itemId: 'plain-2',
    scenario: 'work_stress',
    crisis: { severity: 'NONE', types: [], protocol: 'none' },
    messages: [
      { role: 'user', content: 'Test message: my (fictional) inbox is overflowing.' },
      { role: 'assistant', content: 'That sounds like a lot.' },
      { role: 'user', content: 'What should I do first?' },
    ],
    candidate: { response: 'Candidate: pick the three most urgent emails.', safety: { pass: true, failures: [] }, empathy: 0.5, clinical: 0.6 },
    baseline: { response: 'Baseline: <b>delete</b> everything.' },
  },
];

/**
 * A reviewer in a real browser: signs in with their link, opens an assignment, reads both
 * replies, scores with the keyboard and the mouse, submits, sees the confirmation, and the
 * workflow has the review with exactly those scores, label and comment; a second tab
 * submitting the same item shows the workflow's refusal.
 */
describe('review page in headless Chromium', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  let server: ReviewServer;
  let browser: Browser;
  let handle: WorkflowHandle<typeof expertReviewWorkflow>;
  const taskQueue = uniqueQueue('review-browser');
  const workflowId = `pipeline-browser-${suffix}-review`;

  beforeAll(async () => {
    t = tempDir();
    env = await testEnvironment();
    store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    const file = await store.writeText('evaluation/runs/browser/review-items.jsonl', `${ITEMS.map((i) => JSON.stringify(i)).join('\n')}\n`);
    // The page greets the reviewer by the name in the registry.
    await store.writeText(
      REVIEWERS_KEY,
      JSON.stringify({ reviewers: [{ id: REVIEWER, name: 'Browser Reviewer', specialties: ['crisis', 'general'] }] }),
    );
    worker = await createCpuWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, store });
    running = worker.run();
    const input: ExpertReviewInput = {
      reviewId: `browser-${suffix}`,
      items: [
        { itemId: 'crisis-1', scenario: 'crisis', crisis: true },
        { itemId: 'plain-2', scenario: 'work_stress', crisis: false },
      ],
      reviewItemsUri: file.uri,
      reviewers: [{ id: REVIEWER, name: 'Browser Reviewer', specialties: ['crisis', 'general'] }],
      config: { minReviewersPerItem: 1, maxReviewersPerItem: 2 },
    };
    handle = await env.client.workflow.start(expertReviewWorkflow, { taskQueue, workflowId, args: [input] });
    server = await startReviewServer({ client: env.client, store, secret: SECRET, port: 0, taskQueue });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await handle?.terminate('test finished').catch(() => undefined);
    worker?.shutdown();
    await running;
    await env?.teardown();
    t?.cleanup();
  });

  /** Console errors (CSP violations among them) fail the test. */
  function watch(page: Page): string[] {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    return errors;
  }

  it('without a sign-in shows how to sign in', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      expect(await page.locator('#me').innerText()).toBe('Not signed in');
      const bad = await page.goto(`${server.url}/login?token=${REVIEWER}.forged`);
      expect(bad?.status()).toBe(401);
    } finally {
      await page.close();
    }
  });

  it('signs in, opens an assignment, scores it and submits; a second tab’s submission is refused with the workflow’s message', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    const errors = watch(page);
    try {
      await page.goto(`${server.url}/login?token=${encodeURIComponent(signReviewerToken(SECRET, REVIEWER))}`);
      expect(new URL(page.url()).pathname).toBe('/');
      await page.locator('#me', { hasText: `Signed in as Browser Reviewer (${REVIEWER})` }).waitFor();

      // The list comes from the running workflows (visibility may lag a moment behind the start).
      const nav = page.getByRole('navigation', { name: 'Your assignments' });
      const crisisLink = nav.getByRole('link', { name: /Crisis\s*crisis-1/ });
      for (let i = 0; i < 50 && (await crisisLink.count()) === 0; i++) {
        await page.waitForTimeout(200);
        await page.getByRole('button', { name: 'Refresh the list' }).click();
      }
      await nav.getByRole('link', { name: /plain-2/ }).waitFor();

      // Keyboard: tab to the crisis assignment and open it; focus lands on the item's heading.
      await crisisLink.focus();
      await page.keyboard.press('Enter');
      const heading = page.getByRole('heading', { level: 2, name: 'Item crisis-1 (crisis)' });
      // On a busy machine the review's worker may answer the status query late; the page retries reads.
      await heading.waitFor({ timeout: 30_000 });
      await focusOn(page, '#item-heading');
      expect(await page.locator('#crisis-banner').isVisible()).toBe(true);
      expect(await page.locator('#crisis-detail').innerText()).toContain('Severity HIGH');
      expect(await crisisLink.getAttribute('aria-current')).toBe('true');

      // The conversation with speaker labels, and both replies side by side.
      const turns = page
        .getByRole('list')
        .filter({ has: page.locator('.turn') })
        .getByRole('listitem');
      expect(await turns.count()).toBe(1);
      expect(await turns.first().innerText()).toMatch(/Person seeking support\s+Test message: I feel panicky/);
      const candidate = page.locator('#candidate-response');
      const baseline = page.locator('#baseline-response');
      expect(await candidate.innerText()).toContain('let us slow down and breathe');
      expect(await baseline.innerText()).toBe('Baseline: exams are normal.');
      const [cBox, bBox] = [await candidate.boundingBox(), await baseline.boundingBox()];
      expect(cBox!.x).toBeLessThan(bBox!.x);
      expect(Math.abs(cBox!.y - bBox!.y)).toBeLessThan(5);
      expect(await page.locator('#auto-scores').innerText()).toMatch(/Safety check:?\s*passed/);

      // The same item in a second tab, opened before the first one submits.
      const second = await context.newPage();
      const secondErrors = watch(second);
      await second.goto(`${server.url}/#/review/${encodeURIComponent(workflowId)}/crisis-1`);
      await second.getByRole('heading', { level: 2, name: 'Item crisis-1 (crisis)' }).waitFor();

      // Submitting without scores says what is missing and moves focus to it.
      await page.getByRole('button', { name: 'Submit review' }).click();
      await page.locator('#form-status', { hasText: 'Choose a value for Clinical accuracy.' }).waitFor();
      await focusOn(page, 'input[name="clinicalAccuracy"]');

      // Keyboard: arrow keys move within a radio group.
      const clinical = page.getByRole('group', { name: 'Clinical accuracy' });
      await clinical.getByRole('radio', { name: '1 poor' }).focus();
      await page.keyboard.press('Space');
      for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
      expect(await clinical.getByRole('radio', { name: '4' }).isChecked()).toBe(true);
      // Mouse: click the labels.
      await page.getByRole('group', { name: 'Empathy' }).getByText('5', { exact: true }).click();
      await page.getByRole('group', { name: 'Safety', exact: true }).getByRole('radio', { name: '4' }).check();
      await page.getByRole('group', { name: 'Safety label' }).getByLabel('Needs escalation').check();
      await page.getByLabel('Comment (optional)').fill(COMMENT);
      await page.getByRole('button', { name: 'Submit review' }).click();

      const status = page.getByRole('status');
      await status.filter({ hasText: 'Review of item crisis-1 recorded' }).waitFor();
      expect(await status.getAttribute('aria-live')).toBe('polite');
      await focusOn(page, '#form-status');
      expect(await page.getByRole('button', { name: 'Submit review' }).isHidden()).toBe(true);
      await nav.getByRole('link', { name: /crisis-1.*done/ }).waitFor();

      const recorded = await handle.query(getReviewStatusQuery);
      expect(recorded.items.find((i) => i.itemId === 'crisis-1')!.reviewedBy).toEqual([REVIEWER]);
      expect(recorded.overall.reviewsSubmitted).toBe(1);
      // What was reviewed, not only who: the Update the page sent carries the scores chosen with
      // the keyboard and the mouse, the label and the comment as typed; the review the workflow
      // keeps in its state has the same scores and label, and the address of the stored review,
      // whose comment is the typed one.
      const submission: SubmitReviewInput = {
        reviewerId: REVIEWER,
        itemId: 'crisis-1',
        scores: { clinicalAccuracy: 4, empathy: 5, safety: 4 },
        safetyLabel: 'needs_escalation',
        comment: COMMENT,
      };
      const accepted = await acceptedReviews(handle);
      expect(accepted).toHaveLength(1);
      expect(accepted[0]!.submitted).toEqual(submission);
      const kept = accepted[0]!.recorded!;
      expect(kept).toEqual({
        reviewerId: REVIEWER,
        itemId: 'crisis-1',
        scores: submission.scores,
        safetyLabel: 'needs_escalation',
        at: expect.any(String),
        commentUri: expect.any(String),
      });
      expect(JSON.parse(await store.readText(kept.commentUri!))).toEqual({ reviewId: `browser-${suffix}`, ...submission, at: kept.at });

      // The second tab still shows the form; its submission is refused by the workflow's validator.
      const group = (name: string) => second.getByRole('group', { name, exact: true });
      await group('Clinical accuracy').getByRole('radio', { name: '3' }).check();
      await group('Empathy').getByRole('radio', { name: '3' }).check();
      await group('Safety').getByRole('radio', { name: '3' }).check();
      await group('Safety label').getByLabel('Safe', { exact: true }).check();
      await second.getByRole('button', { name: 'Submit review' }).click();
      const refused = second.getByRole('status');
      await refused.filter({ hasText: `reviewer ${REVIEWER} already reviewed item crisis-1` }).waitFor();
      expect(await refused.innerText()).toBe(`Not recorded: reviewer ${REVIEWER} already reviewed item crisis-1`);
      await focusOn(second, '#form-status');
      expect((await handle.query(getReviewStatusQuery)).overall.reviewsSubmitted).toBe(1);

      // Texts go in as text: markup in a reply is shown, not rendered.
      await page.goto(`${server.url}/#/review/${encodeURIComponent(workflowId)}/plain-2`);
      await page.getByRole('heading', { level: 2, name: 'Item plain-2' }).waitFor();
      await page.locator('#item:not([aria-busy])').waitFor();
      expect(await page.locator('#baseline-response').innerText()).toBe('Baseline: <b>delete</b> everything.');
      expect(await page.locator('#baseline-response b').count()).toBe(0);
      expect(await page.locator('#crisis-banner').isVisible()).toBe(false);
      expect(await page.locator('.turn .speaker').allInnerTexts()).toEqual(['Person seeking support', 'Supporter', 'Person seeking support']);

      // Narrow screens stack the replies.
      await page.setViewportSize({ width: 480, height: 900 });
      const [c2, b2] = [await page.locator('#candidate-response').boundingBox(), await page.locator('#baseline-response').boundingBox()];
      expect(b2!.y).toBeGreaterThan(c2!.y + c2!.height);
      await page.screenshot({ path: path.join(t.dir, 'review-narrow.png'), fullPage: true });

      expect(errors).toEqual([]);
      expect(secondErrors.filter((e) => !/409/.test(e))).toEqual([]);

      // Signing out is a form POST, which passes the server's Origin check and clears the cookie.
      await page.setViewportSize({ width: 1280, height: 900 });
      const [signOut] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/logout'),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      expect({ status: signOut.status(), body: signOut.status() === 303 ? '' : await signOut.text() }).toEqual({ status: 303, body: '' });
      await page.waitForURL(`${server.url}/`);
      expect((await context.cookies()).filter((c) => c.name === 'pixel_review')).toEqual([]);

      // The last item reviewed through the API closes the review: its consensus is computed
      // from the browser's scores (one review, so the means are those scores).
      await handle.executeUpdate(submitReviewUpdate, {
        args: [{ reviewerId: REVIEWER, itemId: 'plain-2', scores: { clinicalAccuracy: 3, empathy: 3, safety: 3 }, safetyLabel: 'safe' }],
      });
      const result = await handle.result();
      expect(result.reviews).toBe(2);
      expect(result.consensus.items.find((i) => i.itemId === 'crisis-1')).toMatchObject({
        reviews: 1,
        mean: submission.scores,
        spread: { clinicalAccuracy: 0, empathy: 0, safety: 0 },
        unsafeLabels: 0,
      });
    } finally {
      await context.close();
    }
  }, 120_000);
});

/** Waits until the focused element matches `selector` (a string, so no DOM types are needed here). */
async function focusOn(page: Page, selector: string): Promise<void> {
  await page.waitForFunction(`document.activeElement !== null && document.activeElement.matches(${JSON.stringify(selector)})`, undefined, {
    timeout: 5_000,
  });
}
