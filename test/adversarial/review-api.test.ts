/**
 * Adversarial suite, review API: the reviewers' HTTP server in front of a real
 * `expertReviewWorkflow`, fed hostile requests (huge headers, URLs and bodies, endless chunked
 * bodies, deeply nested and binary JSON, text that is not UTF-8, path traversal and broken
 * percent-encoding in ids, forged and malformed tokens by the thousand, odd methods). Every
 * answer must come within a bound, be a 4xx with a JSON error (or Node's own 4xx for requests it
 * will not parse), never a 500, never a stack trace, never the request's text; nothing may be
 * recorded; and the server must keep serving afterwards.
 */
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../shared/artifacts';
import type { ExpertReviewInput } from '../../shared/contracts';
import { signReviewerToken } from '../../shared/review/auth';
import { REVIEWERS_KEY } from '../../shared/review/reviewers';
import { startReviewServer, type ReviewServer } from '../../review-ui/server';
import { createCpuWorker } from '../../workers/factory';
import { expertReviewWorkflow } from '../../workflows/expert-review';
import { getReviewStatusQuery } from '../../workflows/review-messages';
import { tempDir, testEnvironment, uniqueQueue } from '../helpers';
import { hostileHttp } from './hostile-http';

const SECRET = 'adversarial-review-secret-0123456789';
const CANARY = 'zzCANARYzz';
/** Longest any hostile request may take to be answered. */
const BOUND_MS = 5_000;
const suffix = Math.random().toString(36).slice(2, 8);
const REVIEWER = `adv-reviewer-${suffix}`;

describe('review API under hostile requests', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  let server: ReviewServer;
  let handle: WorkflowHandle<typeof expertReviewWorkflow>;
  let host: string;
  let port: number;
  const taskQueue = uniqueQueue('adversarial-review');
  const workflowId = `adversarial-review-${suffix}`;
  const token = signReviewerToken(SECRET, REVIEWER);
  const itemPath = (wf: string, item: string) => `/api/reviews/${wf}/items/${item}`;
  const valid = { scores: { clinicalAccuracy: 4, empathy: 4, safety: 4 }, safetyLabel: 'safe', comment: 'fine' };

  beforeAll(async () => {
    t = tempDir();
    env = await testEnvironment();
    const store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    const material = {
      itemId: 'item-1',
      scenario: 'anxiety',
      crisis: { severity: 'NONE', types: [], protocol: 'none' },
      messages: [{ role: 'user', content: 'My houseplant keeps wilting.' }],
      candidate: { response: 'Maybe water it less.', safety: { pass: true, failures: [] }, empathy: 0.5, clinical: 0.5 },
    };
    const file = await store.writeText('evaluation/runs/adversarial/review-items.jsonl', `${JSON.stringify(material)}\n`);
    const reviewer = { id: REVIEWER, name: 'Adversarial Reviewer', specialties: ['anxiety' as const, 'general' as const] };
    await store.writeText(REVIEWERS_KEY, JSON.stringify({ reviewers: [reviewer] }));
    worker = await createCpuWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, store });
    running = worker.run();
    const input: ExpertReviewInput = {
      reviewId: `adversarial-${suffix}`,
      items: [{ itemId: 'item-1', scenario: 'anxiety', crisis: false }],
      reviewItemsUri: file.uri,
      reviewers: [reviewer],
      config: { minReviewersPerItem: 1, maxReviewersPerItem: 1 },
    };
    handle = await env.client.workflow.start(expertReviewWorkflow, { taskQueue, workflowId, args: [input] });
    for (let i = 0; i < 100 && (await handle.query(getReviewStatusQuery)).items[0]?.assigned.length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    server = await startReviewServer({ client: env.client, store, secret: SECRET, port: 0, taskQueue });
    const url = new URL(server.url);
    host = url.hostname;
    port = Number(url.port);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await handle?.terminate('test finished').catch(() => undefined);
    worker?.shutdown();
    await running;
    await env?.teardown();
    t?.cleanup();
  });

  const { send, expectRefusal, expectEndlessBodyRefused } = hostileHttp(
    () => ({ host, port }),
    CANARY,
    BOUND_MS,
    (body) => (body as { error: string }).error,
  );

  const auth = { Authorization: `Bearer ${token}` };
  const json = (body: string | Buffer) => ({ ...auth, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });

  it('refuses oversized headers and URLs (431/414) and keeps serving', async () => {
    expectRefusal(await send('GET', '/api/me', { headers: { ...auth, Cookie: `pixel_review=${CANARY}${'c'.repeat(100_000)}` } }), [431]);
    expectRefusal(await send('GET', `/api/reviews/${CANARY}${'a'.repeat(100_000)}/items/x`, { headers: auth }), [414, 431]);
    expect((await send('GET', '/api/me', { headers: auth })).status).toBe(200);
  });

  it('refuses a request target that is not a URL (400) and keeps serving', async () => {
    expectRefusal(await send('GET', 'http://['), [400], /not a valid URL/);
    expect((await send('GET', '/api/me', { headers: auth })).status).toBe(200);
  });

  it('refuses bodies over 64 KB, declared or streamed without end (413)', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    expectRefusal(await send('POST', itemPath(workflowId, 'item-1'), { headers: json(big), body: big }), [413, -1]);
    await expectEndlessBodyRefused(itemPath(workflowId, 'item-1'), auth);
  });

  it('refuses bodies that are deep, binary, not UTF-8, not JSON or not a review, naming what is wrong (400/415)', async () => {
    const cases: [string, Buffer | string, RegExp][] = [
      ['deep', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, /not valid|expected object/],
      ['deep in a field', `{"scores":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)},"safetyLabel":"safe"}`, /scores/],
      ['binary', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), /not valid UTF-8|not valid JSON/],
      ['not UTF-8', Buffer.concat([Buffer.from(`{"comment":"${CANARY} caf`), Buffer.from([0xe9]), Buffer.from('"}')]), /not valid UTF-8/],
      ['truncated', `{"comment":"${CANARY}`, /not valid JSON/],
      ['an unknown field', JSON.stringify({ ...valid, notes: 1 }), /unknown field/],
      ['a bad score', JSON.stringify({ ...valid, scores: { clinicalAccuracy: 1e308, empathy: -1, safety: 'NaN' } }), /scores/],
      ['a comment over 4,000 characters', JSON.stringify({ ...valid, comment: `${CANARY}${'a'.repeat(5000)}` }), /at most 4000 characters/],
      ['a prototype-polluting body', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}', /unknown field|scores/],
    ];
    for (const [what, body, error] of cases) {
      const a = await send('POST', itemPath(workflowId, 'item-1'), { headers: json(body), body });
      expect({ what, status: a.status }).toEqual({ what, status: 400 });
      expectRefusal(a, [400], error);
    }
    const form = await send('POST', itemPath(workflowId, 'item-1'), {
      headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': 9 },
      body: 'scores=55',
    });
    expectRefusal(form, [415]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect((await handle.query(getReviewStatusQuery)).overall.reviewsSubmitted).toBe(0);
  });

  it('answers ids that walk out of their segment, break percent-encoding or hold control characters with 400/404, never 500', async () => {
    const targets = [
      itemPath('..%2F..%2F..%2Fetc%2Fpasswd', 'item-1'),
      itemPath(workflowId, '..%2F..%2Fetc%2Fpasswd'),
      itemPath('%2e%2e', '%2e%2e'),
      itemPath('%E0%A4%A', 'item-1'),
      itemPath(workflowId, '%ZZ'),
      itemPath(`x%0D%0ASet-Cookie:%20${CANARY}`, 'item-1'),
      itemPath(`${encodeURIComponent("' OR WorkflowType != '")}`, 'item-1'),
      '/api/reviews//items/item-1',
      '/api/reviews/a/items/b/c',
      '/api/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
    ];
    for (const target of targets) {
      const a = await send('GET', target, { headers: auth });
      expect({ target, status: a.status, expected: [400, 403, 404].includes(a.status) }).toEqual({ target, status: a.status, expected: true });
      expect(a.ms).toBeLessThan(BOUND_MS);
      expect(a.body).not.toMatch(/root:|\n\s+at /);
    }
  });

  it('refuses thousands of forged, malformed and oversized tokens (401) quickly', async () => {
    const [id, version, expiry, mac] = token.split('.');
    const bad = [
      '',
      'x',
      '.'.repeat(511),
      'x.'.repeat(300),
      `${id}.${version}.${expiry}`,
      `${id}.${version}.${expiry}.${'A'.repeat(43)}`,
      `${id}.${version}.${expiry}.${mac}x`,
      `${id}.0.${expiry}.${mac}`,
      `${id}.${version}.-1.${mac}`,
      `${id}.${version}.${expiry}.${mac}`.replace(REVIEWER, `${REVIEWER}x`),
      `../../etc.${version}.${expiry}.${mac}`,
      `${CANARY}\u0000.${version}.${expiry}.${mac}`,
      `${'a'.repeat(5000)}.${version}.${expiry}.${mac}`,
    ];
    const started = Date.now();
    for (let round = 0; round < 100; round++) {
      const answers = await Promise.all(
        bad.map((b) => send('GET', '/api/me', { headers: { Authorization: `Bearer ${encodeURIComponent(b) || 'x'}` } })),
      );
      for (const a of answers) expectRefusal(a, [401]);
    }
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await send('GET', '/api/me', { headers: auth })).status).toBe(200);
  }, 90_000);

  it('answers odd methods with 404/405 and refuses cross-site writes (403)', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']) {
      const a = await send(method, itemPath(workflowId, 'item-1'), { headers: auth });
      expect({ method, status: a.status, expected: [404, 405].includes(a.status) }).toEqual({ method, status: a.status, expected: true });
    }
    const body = JSON.stringify(valid);
    const crossSite = await send('POST', itemPath(workflowId, 'item-1'), {
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        Cookie: `pixel_review=${encodeURIComponent(token)}`,
        Origin: 'https://evil.example',
      },
      body,
    });
    expectRefusal(crossSite, [403]);
    expect((await handle.query(getReviewStatusQuery)).overall.reviewsSubmitted).toBe(0);
  });
});
