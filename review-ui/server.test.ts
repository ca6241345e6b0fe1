import { request } from 'node:http';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import type { ExpertReviewInput, ReviewStatus } from '../shared/contracts';
import { signReviewerToken } from '../shared/review/auth';
import { REVIEWERS_KEY, bumpTokenVersion } from '../shared/review/reviewers';
import { registerReviewCommands } from '../scripts/review';
import { tempDir, testEnvironment, uniqueQueue } from '../test/helpers';
import { createCpuWorker } from '../workers/factory';
import { expertReviewWorkflow } from '../workflows/expert-review';
import { getReviewStatusQuery } from '../workflows/review-messages';
import { MAX_BODY_BYTES, parseMaterial, startReviewServer, type ReviewServer } from './server';

const SECRET = 'server-test-secret-0123456789';
/** The test server re-reads the registry this often, so revocations show quickly. */
const REGISTRY_TTL_MS = 100;
/** A fetch response whose JSON body the assertions read freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ApiResponse = Omit<Response, 'json'> & { json(): Promise<any> };
const suffix = Math.random().toString(36).slice(2, 8);
const ALICE = `ui-alice-${suffix}`;
const BOB = `ui-bob-${suffix}`;
/** Never in the registry: a validly signed link of hers must not work. */
const CAROL = `ui-carol-${suffix}`;

/** Invented, harmless review material in the evaluation's review-items format. */
const ITEMS = [
  { itemId: 'item-1', scenario: 'crisis', crisis: true },
  { itemId: 'item-2', scenario: 'anxiety', crisis: false },
  { itemId: 'item-3', scenario: 'work_stress', crisis: false },
  { itemId: 'item-4', scenario: 'grief', crisis: false },
] as const;
const material = (itemId: string, scenario: string, crisis: boolean) => ({
  itemId,
  scenario,
  crisis: crisis ? { severity: 'HIGH', types: ['panic'], protocol: 'crisis_line' } : { severity: 'NONE', types: [], protocol: 'none' },
  messages: [
    { role: 'user', content: `Test prompt for ${itemId}: my houseplant keeps wilting.` },
    { role: 'assistant', content: 'That sounds frustrating. How often do you water it?' },
    { role: 'user', content: 'Every day, I think.' },
  ],
  candidate: {
    response: `Candidate reply for ${itemId}: maybe water it a little less.`,
    safety: { pass: true, failures: [] },
    empathy: 0.62,
    clinical: 0.71,
  },
  baseline: { response: `Baseline reply for ${itemId}: plants are plants.` },
});

describe('review server against a real expertReviewWorkflow', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  let server: ReviewServer;
  let handle: WorkflowHandle<typeof expertReviewWorkflow>;
  const taskQueue = uniqueQueue('review-ui-test');
  const workflowId = `pipeline-ui-test-${suffix}-review`;
  const tokenA = signReviewerToken(SECRET, ALICE);
  const tokenB = signReviewerToken(SECRET, BOB);
  let itemsOf: Record<string, string[]>;

  beforeAll(async () => {
    t = tempDir();
    env = await testEnvironment();
    store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    const file = await store.writeText(
      'evaluation/runs/ui-test/review-items.jsonl',
      `${ITEMS.map((i) => JSON.stringify(material(i.itemId, i.scenario, i.crisis))).join('\n')}\n`,
    );
    await store.writeText(
      REVIEWERS_KEY,
      JSON.stringify({
        reviewers: [
          { id: ALICE, name: 'Alice Example', specialties: ['crisis', 'general'] },
          { id: BOB, name: 'Bob Example', specialties: ['crisis', 'general'] },
        ],
      }),
    );
    worker = await createCpuWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, store });
    running = worker.run();
    const input: ExpertReviewInput = {
      reviewId: `ui-test-${suffix}`,
      items: ITEMS.map((i) => ({ ...i })),
      reviewItemsUri: file.uri,
      reviewers: [
        { id: ALICE, name: 'Alice Example', specialties: ['crisis', 'general'] },
        { id: BOB, name: 'Bob Example', specialties: ['crisis', 'general'] },
      ],
      config: { minReviewersPerItem: 1, maxReviewersPerItem: 2 },
    };
    handle = await env.client.workflow.start(expertReviewWorkflow, { taskQueue, workflowId, args: [input] });
    const status = await waitFor(
      () => handle.query(getReviewStatusQuery),
      (s) => s.items.every((i) => i.assigned.length > 0),
    );
    itemsOf = { [ALICE]: [], [BOB]: [] };
    for (const i of status.items) for (const r of i.assigned) itemsOf[r]?.push(i.itemId);
    server = await startReviewServer({ client: env.client, store, secret: SECRET, port: 0, taskQueue, registryTtlMs: REGISTRY_TTL_MS });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await handle?.terminate('test finished').catch(() => undefined);
    worker?.shutdown();
    await running;
    await env?.teardown();
    t?.cleanup();
  });

  const call = (
    p: string,
    init: { method?: string; token?: string; cookie?: string; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {},
  ) =>
    fetch(`${server.url}${p}`, {
      method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        ...init.headers,
        ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
        ...(init.cookie ? { Cookie: init.cookie } : {}),
        ...(init.body !== undefined || init.raw !== undefined ? { 'Content-Type': init.type ?? 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : init.raw !== undefined ? { body: init.raw } : {}),
    }) as Promise<ApiResponse>;
  const itemUrl = (itemId: string, wf = workflowId) => `/api/reviews/${encodeURIComponent(wf)}/items/${encodeURIComponent(itemId)}`;
  const valid = { scores: { clinicalAccuracy: 4, empathy: 5, safety: 4 }, safetyLabel: 'safe', comment: 'Kind and practical.' };

  it('assigns both test reviewers (load-balanced) so the tests have items of each', () => {
    expect(itemsOf[ALICE]!.length).toBeGreaterThanOrEqual(1);
    expect(itemsOf[BOB]!.length).toBeGreaterThanOrEqual(1);
    expect(itemsOf[ALICE]!.length).toBeGreaterThanOrEqual(2); // one for the API, one for the CLI
  });

  it('serves the page and its two files with security headers, and nothing else from disk', async () => {
    const page = await call('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/app.js">');
    expect(html).not.toMatch(/<script>(?!<\/script>)|\son\w+=/); // no inline script or handlers (CSP)
    expect((await call('/app.js')).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await call('/styles.css')).headers.get('content-type')).toMatch(/^text\/css/);
    for (const p of ['/server.ts', '/public/app.js', '/..%2fserver.ts', '/%2e%2e/server.ts', '/index.html%00', '/api'])
      expect((await call(p)).status).toBe(404);
    // A raw request line with dot segments (fetch would normalise them away).
    const raw = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = request({ host: u.hostname, port: u.port, path: '/../server.ts', method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw).toBe(404);
  });

  it('answers 401 on every API route without a token, with a forged token, or with another secret’s token', async () => {
    const forged = [
      `${ALICE}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`,
      signReviewerToken('another-secret-0123456789', ALICE),
      ALICE,
      `${ALICE}.`,
      '',
    ];
    for (const p of ['/api/me', '/api/assignments', itemUrl('item-1')]) {
      const res = await call(p);
      expect(res.status).toBe(401);
      expect((await res.json()).error).toMatch(/sign in/);
      for (const token of forged) expect((await call(p, { token: token || 'x' })).status).toBe(401);
      expect((await call(p, { cookie: `pixel_review=${encodeURIComponent(forged[1]!)}` })).status).toBe(401);
    }
    expect((await call(itemUrl('item-1'), { body: valid })).status).toBe(401);
    expect((await call(itemUrl('item-1'), { body: valid, token: forged[0] })).status).toBe(401);
  });

  it('signs in through /login?token= with an HttpOnly, SameSite=Strict cookie; a bad link gets a 401 page', async () => {
    const res = await call(`/login?token=${encodeURIComponent(tokenA)}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^pixel_review=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    // The cookie lasts as long as the link (7 days by default), not longer.
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(7 * 24 * 3600 - 120);
    expect(maxAge).toBeLessThanOrEqual(7 * 24 * 3600);
    const me = await call('/api/me', { cookie: cookie.split(';')[0] });
    expect(me.status).toBe(200);
    // The name comes from the registry.
    expect(await me.json()).toEqual({ reviewerId: ALICE, name: 'Alice Example' });
    expect(await (await call('/api/me', { token: tokenB })).json()).toEqual({ reviewerId: BOB, name: 'Bob Example' });

    const out = await call('/logout', { method: 'POST', headers: { Origin: server.url } });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^pixel_review=; .*Max-Age=0/);

    const bad = await call(`/login?token=${encodeURIComponent(`${ALICE}.forged`)}`);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    expect(await bad.text()).toMatch(/does not work/);
  });

  it('lists a reviewer’s assignments from the running reviews', async () => {
    const list = await waitFor(
      async () =>
        (await (await call('/api/assignments', { token: tokenA })).json()) as {
          workflowId: string;
          itemId: string;
          done: boolean;
          crisis: boolean;
          scenario: string;
          reviewId: string;
          deadlineAt: string;
        }[],
      (l) => l.some((a) => a.workflowId === workflowId),
    );
    const mine = list.filter((a) => a.workflowId === workflowId);
    expect(mine.map((a) => a.itemId).sort()).toEqual([...itemsOf[ALICE]!].sort());
    expect(mine.every((a) => !a.done && a.reviewId === `ui-test-${suffix}` && !Number.isNaN(Date.parse(a.deadlineAt)))).toBe(true);
    // Crisis items come first among open ones.
    const firstCrisis = mine.findIndex((a) => a.crisis);
    if (firstCrisis >= 0) expect(firstCrisis).toBe(0);
  });

  it('shows an item’s material to its reviewer only; unknown reviews and items are 404', async () => {
    const mine = itemsOf[ALICE]![0]!;
    const res = await call(itemUrl(mine), { token: tokenA });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const item = await res.json();
    const ref = ITEMS.find((i) => i.itemId === mine)!;
    expect(item).toMatchObject({ workflowId, itemId: mine, scenario: ref.scenario, crisis: ref.crisis, done: false, reviewStatus: 'open' });
    expect(item.messages).toHaveLength(3);
    expect(item.messages[0]).toEqual({ role: 'user', content: expect.stringContaining('houseplant') });
    expect(item.candidate).toEqual({
      response: expect.stringContaining(`Candidate reply for ${mine}`),
      safety: { pass: true, failures: [] },
      empathy: 0.62,
      clinical: 0.71,
    });
    expect(item.baseline).toEqual({ response: expect.stringContaining('Baseline reply') });
    expect(item.crisisDetail.severity).toBe(ref.crisis ? 'HIGH' : 'NONE');

    const notMine = itemsOf[BOB]![0]!;
    const forbidden = await call(itemUrl(notMine), { token: tokenA });
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json()).error).toMatch(/not assigned to you/);
    expect((await call(itemUrl('no-such-item'), { token: tokenA })).status).toBe(404);
    expect((await call(itemUrl(mine, `no-such-review-${suffix}`), { token: tokenA })).status).toBe(404);
  });

  it('validates the body first: 400 naming the field, 400 on bad JSON, 413 above 64 KB, 415 for non-JSON', async () => {
    const mine = itemsOf[ALICE]![0]!;
    const outOfRange = await call(itemUrl(mine), { token: tokenA, body: { ...valid, scores: { ...valid.scores, safety: 7 } } });
    expect(outOfRange.status).toBe(400);
    expect((await outOfRange.json()).error).toMatch(/scores\.safety: scores run from 1 to 5/);
    const badLabel = await call(itemUrl(mine), { token: tokenA, body: { ...valid, safetyLabel: 'fine' } });
    expect(badLabel.status).toBe(400);
    expect((await badLabel.json()).error).toMatch(/safetyLabel/);
    const longComment = await call(itemUrl(mine), { token: tokenA, body: { ...valid, comment: 'x'.repeat(4001) } });
    expect((await longComment.json()).error).toMatch(/comment: a comment has at most 4000 characters/);
    // The ids come from the URL and the token, never from the body.
    const smuggled = await call(itemUrl(mine), { token: tokenA, body: { ...valid, reviewerId: BOB } });
    expect(smuggled.status).toBe(400);
    expect((await smuggled.json()).error).toMatch(/reviewerId/);
    const badJson = await call(itemUrl(mine), { token: tokenA, raw: '{"scores": ' });
    expect(badJson.status).toBe(400);
    expect((await badJson.json()).error).toBe('the request body is not valid JSON');
    const huge = await call(itemUrl(mine), { token: tokenA, raw: JSON.stringify({ ...valid, comment: 'y'.repeat(MAX_BODY_BYTES) }) });
    expect(huge.status).toBe(413);
    // Chunked, with no Content-Length to refuse it up front.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: itemUrl(mine),
          method: 'POST',
          headers: { Authorization: `Bearer ${tokenA}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('z'.repeat(8 * 1024));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await call(itemUrl(mine), { token: tokenA, raw: 'scores=1', type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    // Nothing was recorded by any of these.
    const status = await handle.query(getReviewStatusQuery);
    expect(status.overall.reviewsSubmitted).toBe(0);
  });

  it('refuses another reviewer’s item (403), records a valid review (200), and rejects a duplicate with the workflow’s message (409)', async () => {
    const mine = itemsOf[ALICE]![0]!;
    const notMine = itemsOf[BOB]![0]!;
    const forbidden = await call(itemUrl(notMine), { token: tokenA, body: valid });
    expect(forbidden.status).toBe(403);

    const ok = await call(itemUrl(mine), { token: tokenA, body: valid });
    expect(ok.status).toBe(200);
    const recorded = await ok.json();
    expect(recorded).toMatchObject({ reviewerId: ALICE, itemId: mine, scores: valid.scores, safetyLabel: 'safe' });
    expect(typeof recorded.at).toBe('string');
    const status: ReviewStatus = await handle.query(getReviewStatusQuery);
    expect(status.items.find((i) => i.itemId === mine)!.reviewedBy).toEqual([ALICE]);

    const again = await call(itemUrl(mine), { token: tokenA, body: valid });
    expect(again.status).toBe(409);
    expect((await again.json()).error).toBe(`reviewer ${ALICE} already reviewed item ${mine}`);

    const list = (await (await call('/api/assignments', { token: tokenA })).json()) as { workflowId: string; itemId: string; done: boolean }[];
    const entry = list.find((a) => a.workflowId === workflowId && a.itemId === mine);
    expect(entry?.done).toBe(true);
    // Done items sort after open ones.
    const ours = list.filter((a) => a.workflowId === workflowId);
    expect(ours[ours.length - 1]!.done).toBe(true);
    const shown = await (await call(itemUrl(mine), { token: tokenA })).json();
    expect(shown.done).toBe(true);
  });

  it('refuses expired links, reviewers outside the registry, and revoked or removed reviewers within the registry’s cache time', async () => {
    const expired = signReviewerToken(SECRET, ALICE, { expiresAt: Date.now() - 1000 });
    const res = await call('/api/me', { token: expired });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toMatch(/expired/);
    const expiredLogin = await call(`/login?token=${encodeURIComponent(expired)}`);
    expect(expiredLogin.status).toBe(401);
    expect(expiredLogin.headers.get('set-cookie')).toBeNull();
    expect(await expiredLogin.text()).toMatch(/expired/);
    // A link of the old format (id and signature only) no longer works.
    expect((await call('/api/me', { token: `${ALICE}.${signReviewerToken(SECRET, ALICE).split('.').pop()}` })).status).toBe(401);
    // An expiry that was tampered with breaks the signature.
    const [id, version, , sig] = tokenA.split('.');
    expect((await call('/api/me', { token: `${id}.${version}.99999999999.${sig}` })).status).toBe(401);

    // Carol was never registered: her validly signed link is refused.
    const carol = await call('/api/assignments', { token: signReviewerToken(SECRET, CAROL) });
    expect(carol.status).toBe(401);
    expect((await carol.json()).error).toMatch(/not in the reviewer registry/);

    // Revoking Bob: his link (version 1) stops working; a link of version 2 works.
    const bobCookie = `pixel_review=${encodeURIComponent(tokenB)}`;
    expect((await call('/api/me', { cookie: bobCookie })).status).toBe(200);
    expect(await bumpTokenVersion(store, BOB)).toBe(2);
    const revoked = await waitFor(
      () => call('/api/me', { token: tokenB }),
      (r) => r.status === 401,
      5_000,
    );
    expect((await revoked.json()).error).toMatch(/revoked/);
    expect((await call('/api/me', { cookie: bobCookie })).status).toBe(401);
    const bobV2 = signReviewerToken(SECRET, BOB, { version: 2 });
    expect((await call('/api/me', { token: bobV2 })).status).toBe(200);

    // Removing Bob from the registry ends even his newest link.
    await store.writeText(REVIEWERS_KEY, JSON.stringify({ reviewers: [{ id: ALICE, name: 'Alice Example', specialties: ['crisis', 'general'] }] }));
    const removed = await waitFor(
      () => call('/api/me', { token: bobV2 }),
      (r) => r.status === 401,
      5_000,
    );
    expect((await removed.json()).error).toMatch(/not in the reviewer registry/);
    // A registry that cannot be read fails closed, and says so (the log names the file, not its text).
    const log = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    await store.writeText(REVIEWERS_KEY, '{ not json');
    const unreadable = await waitFor(
      () => call('/api/me', { token: tokenA }),
      (r) => r.status === 503,
      5_000,
    );
    expect((await unreadable.json()).error).toMatch(/registry cannot be read/);
    expect(log.mock.calls.flat().join('\n')).toMatch(/reviewers\.json is not JSON \(at character 2\)$/m);
    log.mockRestore();
    await store.writeText(
      REVIEWERS_KEY,
      JSON.stringify({
        reviewers: [
          { id: ALICE, name: 'Alice Example', specialties: ['crisis', 'general'] },
          { id: BOB, name: 'Bob Example', specialties: ['crisis', 'general'], tokenVersion: 2 },
        ],
      }),
    );
    await waitFor(
      () => call('/api/me', { token: tokenA }),
      (r) => r.status === 200,
      5_000,
    );
  });

  it('refuses state-changing requests from other sites: a cookie needs a same-origin Origin, a foreign Origin or Sec-Fetch-Site is 403', async () => {
    const item = itemsOf[BOB]![0]!;
    const bobV2 = signReviewerToken(SECRET, BOB, { version: 2 });
    const cookie = `pixel_review=${encodeURIComponent(bobV2)}`;
    const bad = { ...valid, scores: { ...valid.scores, safety: 9 } };
    const cases: [string, Record<string, string>][] = [
      ['no Origin with a cookie', {}],
      ['a foreign Origin', { Origin: 'https://evil.example' }],
      ['an opaque Origin', { Origin: 'null' }],
      ['a cross-site fetch', { Origin: server.url, 'Sec-Fetch-Site': 'cross-site' }],
      ['a same-site (other port or subdomain) fetch', { Origin: server.url, 'Sec-Fetch-Site': 'same-site' }],
    ];
    for (const [what, headers] of cases) {
      const res = await call(itemUrl(item), { cookie, body: valid, headers });
      expect({ what, status: res.status }).toEqual({ what, status: 403 });
    }
    // A bearer token with a foreign Origin is refused too; the logout form likewise.
    expect((await call(itemUrl(item), { token: bobV2, body: valid, headers: { Origin: 'https://evil.example' } })).status).toBe(403);
    expect((await call('/logout', { method: 'POST', headers: { Origin: 'https://evil.example' } })).status).toBe(403);
    // Nothing was recorded; the page's own origin passes the check and reaches validation.
    const status = await handle.query(getReviewStatusQuery);
    expect(status.items.find((i) => i.itemId === item)!.reviewedBy).toEqual([]);
    const same = await call(itemUrl(item), { cookie, body: bad, headers: { Origin: server.url, 'Sec-Fetch-Site': 'same-origin' } });
    expect(same.status).toBe(400);
    // Chromium posts a form from a no-referrer page with Origin: null and Sec-Fetch-Site: same-origin.
    const form = await call(itemUrl(item), { cookie, body: bad, headers: { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' } });
    expect(form.status).toBe(400);
    // A browser without Sec-Fetch-Site headers names the page's own origin.
    expect((await call(itemUrl(item), { cookie, body: bad, headers: { Origin: server.url } })).status).toBe(400);
    // GETs need no Origin.
    expect((await call('/api/me', { cookie })).status).toBe(200);
  });

  describe('pixel review (terminal client)', () => {
    async function pixel(args: string[]): Promise<{ out: string; error?: Error }> {
      const program = new Command().exitOverride();
      registerReviewCommands(program);
      const lines: string[] = [];
      const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(' ')));
      try {
        await program.parseAsync(['node', 'pixel', 'review', ...args]);
        return { out: lines.join('\n') };
      } catch (err) {
        return { out: lines.join('\n'), error: err as Error };
      } finally {
        log.mockRestore();
      }
    }

    it('lists, shows and submits through the HTTP API with the bearer token, and prints the server’s rejection', async () => {
      const item = itemsOf[ALICE]![1]!;
      const list = await pixel(['list', '--token', tokenA, '--server', server.url]);
      expect(list.error).toBeUndefined();
      expect(list.out).toMatch(new RegExp(`open .*${item} .* --review ${workflowId}`));
      expect(list.out).toMatch(new RegExp(`done .*${itemsOf[ALICE]![0]!}`));

      const show = await pixel(['show', item, '--review', workflowId, '--token', tokenA, '--server', server.url]);
      expect(show.error).toBeUndefined();
      expect(show.out).toContain(`Candidate reply for ${item}`);
      expect(show.out).toContain(`Baseline reply for ${item}`);
      expect(show.out).toContain('houseplant');

      const args = [
        item,
        '--review',
        workflowId,
        '--token',
        tokenA,
        '--server',
        server.url,
        '--clinical',
        '3',
        '--empathy',
        '4',
        '--safety',
        '5',
        '--label',
        'needs_escalation',
      ];
      const submitted = await pixel(['submit', ...args, '--comment', 'Would escalate to be safe.']);
      expect(submitted.error).toBeUndefined();
      expect(submitted.out).toMatch(new RegExp(`review of item ${item} recorded`));

      const duplicate = await pixel(['submit', ...args]);
      expect(duplicate.error?.message).toBe(`reviewer ${ALICE} already reviewed item ${item}`);

      const forged = await pixel(['list', '--token', `${ALICE}.forged`, '--server', server.url]);
      expect(forged.error?.message).toMatch(/sign in/);
      const notMine = await pixel(['show', itemsOf[BOB]![0]!, '--review', workflowId, '--token', tokenA, '--server', server.url]);
      expect(notMine.error?.message).toMatch(/not assigned to you/);
    });

    it('prints a sign-in link of the reviewer’s current version that the server accepts, revokes it, and refuses unregistered reviewers', async () => {
      const before = { secret: process.env.PIXEL_REVIEW_SECRET, artifacts: process.env.PIXEL_ARTIFACTS };
      process.env.PIXEL_REVIEW_SECRET = SECRET;
      process.env.PIXEL_ARTIFACTS = store.root;
      const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        const link = await pixel(['link', '--reviewer', BOB, '--base', `${server.url}/`, '--days', '2']);
        expect(link.error).toBeUndefined();
        expect(link.out).toMatch(new RegExp(`^${server.url}/login\\?token=`));
        expect(err.mock.calls.flat().join('\n')).toMatch(/works until \d{4}-/);
        const res = await fetch(link.out.trim(), { redirect: 'manual' });
        expect(res.status).toBe(303);
        const maxAge = Number(/Max-Age=(\d+)/.exec(res.headers.get('set-cookie') ?? '')?.[1]);
        expect(maxAge).toBeGreaterThan(2 * 24 * 3600 - 120);
        expect(maxAge).toBeLessThanOrEqual(2 * 24 * 3600);

        const revoke = await pixel(['revoke', '--reviewer', BOB]);
        expect(revoke.error).toBeUndefined();
        expect(revoke.out).toMatch(/token version now 3/);
        const gone = await waitFor(
          () => fetch(link.out.trim(), { redirect: 'manual' }),
          (r) => r.status === 401,
          5_000,
        );
        expect(await gone.text()).toMatch(/revoked/);
        const fresh = await pixel(['link', '--reviewer', BOB, '--base', server.url]);
        expect((await fetch(fresh.out.trim(), { redirect: 'manual' })).status).toBe(303);

        expect((await pixel(['link', '--reviewer', CAROL])).error?.message).toMatch(/not in the reviewer registry/);
        expect((await pixel(['revoke', '--reviewer', CAROL])).error?.message).toMatch(/not in the reviewer registry/);
        expect((await pixel(['link', '--reviewer', BOB, '--days', '91'])).error?.message).toMatch(/--days must be an integer from 1 to 90/);
      } finally {
        err.mockRestore();
        for (const [key, value] of [
          ['PIXEL_REVIEW_SECRET', before.secret],
          ['PIXEL_ARTIFACTS', before.artifacts],
        ] as const) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
    });
  });
});

describe('parseMaterial', () => {
  it('indexes lines by itemId and names a bad line by number only', () => {
    const a = JSON.stringify(material('a', 'grief', false));
    const b = JSON.stringify(material('b', 'crisis', true));
    expect([...parseMaterial(`${a}\n\n${b}\n`).keys()]).toEqual(['a', 'b']);
    expect(() => parseMaterial(`${a}\n{"secret text`)).toThrow(/^review material line 2 is not JSON$/);
    expect(() => parseMaterial(JSON.stringify({ ...material('c', 'grief', false), itemId: undefined }))).toThrow(/review material line 1: itemId/);
    expect(() => parseMaterial(JSON.stringify({ ...material('d', 'grief', false), scenario: 'gardening' }))).toThrow(
      /review material line 1: scenario/,
    );
  });
});

async function waitFor<T>(get: () => Promise<T>, ok: (value: T) => boolean, ms = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await get().catch(() => undefined);
    if (value !== undefined && ok(value)) return value;
    if (Date.now() - started > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
