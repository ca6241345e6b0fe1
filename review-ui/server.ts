import { promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Client, QueryNotRegisteredError, WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ArtifactNotFoundError, type ArtifactStore } from '../shared/artifacts';
import {
  ReviewMaterialSchema,
  SubmitReviewInputSchema,
  describeZodError,
  type RecordedReview,
  type ReviewMaterial,
  type ReviewStatus,
  type SubmitReviewInput,
} from '../shared/contracts';
import { jsonlLines } from '../shared/util/jsonl';
import { firstBadUtf8Byte } from '../shared/util/lines';
import { mapInOrder } from '../shared/util/pool';
import { verifyReviewerToken } from '../shared/review/auth';
import { NoReviewerRegistryError, loadRegistry } from '../shared/review/reviewers';
import type { RegistryEntry } from '../shared/contracts';
import { getReviewStatusQuery, submitReviewUpdate } from '../workflows/review-messages';

/** The cookie that carries a reviewer's token after they open their sign-in link. */
export const REVIEW_COOKIE = 'pixel_review';
/** The workflow type whose running executions hold reviewers' assignments. */
export const REVIEW_WORKFLOW_TYPE = 'expertReviewWorkflow';
/** Largest request body accepted (a review with a 4000-character comment is far smaller). */
export const MAX_BODY_BYTES = 64 * 1024;

const PUBLIC_DIR = path.join(__dirname, 'public');
/** The only files served: a fixed list, so no path from a request ever reaches the filesystem. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** Budget for one status query: a review whose worker is gone must not hold up the page. */
const QUERY_DEADLINE_MS = 5_000;
/** Budget for a submission: validation, storing the comment, recording. */
const UPDATE_DEADLINE_MS = 30_000;
const QUERY_CONCURRENCY = 8;
/** Most running reviews the assignment list looks at. */
const MAX_REVIEWS_LISTED = 500;
/** How long the server trusts its copy of the reviewer registry: a revoked link stops working within this. */
export const REGISTRY_TTL_MS = 5_000;
const MATERIAL_CACHE_SIZE = 16;

export interface ReviewServerOptions {
  client: Client;
  store: ArtifactStore;
  /** Signs and verifies reviewers' tokens (`reviewSecret()`). */
  secret: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1; `0.0.0.0` to serve other machines. */
  host?: string;
  /** Temporal namespace, when it differs from the client's. */
  namespace?: string;
  /** Serve only reviews running on this task queue (the stack's CPU queue); all when absent. */
  taskQueue?: string;
  /**
   * Origins, besides the page's own address, that may send state-changing requests (a proxy's
   * public address, `https://review.example.org`); `PIXEL_REVIEW_ORIGINS`, comma-separated.
   */
  allowedOrigins?: string[];
  /** How long a read of the reviewer registry is trusted (default {@link REGISTRY_TTL_MS}). */
  registryTtlMs?: number;
}

/**
 * Extra origins allowed to send state-changing requests: `PIXEL_REVIEW_ORIGINS`, comma-separated
 * `scheme://host[:port]` (the public address of a proxy in front of the page).
 */
export function reviewOrigins(value = process.env.PIXEL_REVIEW_ORIGINS): string[] {
  if (!value?.trim()) return [];
  return value.split(',').map((raw, i) => {
    const o = raw.trim().replace(/\/+$/, '');
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== o)
      throw new Error(`PIXEL_REVIEW_ORIGINS entry ${i + 1} is not an origin: give scheme://host[:port] entries separated by commas`);
    return url.origin;
  });
}

export interface ReviewServer {
  url: string;
  close(): Promise<void>;
}

/** One entry of `GET /api/assignments`. */
export interface AssignmentView {
  reviewId: string;
  workflowId: string;
  itemId: string;
  scenario: string;
  crisis: boolean;
  done: boolean;
  deadlineAt: string;
}

/** An HTTP error with a message meant for the person using the page or the CLI. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The body a reviewer sends: the update's input without the ids, which come from the URL and the token. */
const ReviewBodySchema = SubmitReviewInputSchema.omit({ reviewerId: true, itemId: true });

/**
 * The reviewers' web page and its JSON API, on plain `node:http`. Reviewers sign in with the
 * link `pixel review link` prints (an HMAC-signed token, kept in an HttpOnly cookie), see their
 * assignments across every running `expertReviewWorkflow`, read an item's material from the
 * artifact store and submit scores through `submitReviewUpdate`, whose validator has the last
 * word. Logs carry ids and statuses only: never review texts, comments or tokens.
 */
export async function startReviewServer(options: ReviewServerOptions): Promise<ReviewServer> {
  const { store, secret } = options;
  if (secret.length < 16) throw new Error('the review secret must be at least 16 characters');
  const client =
    options.namespace && options.namespace !== options.client.options.namespace
      ? new Client({ connection: options.client.connection, namespace: options.namespace })
      : options.client;
  const host = options.host ?? '127.0.0.1';

  const registryTtlMs = options.registryTtlMs ?? REGISTRY_TTL_MS;
  const allowedOrigins = new Set((options.allowedOrigins ?? []).map((o) => o.replace(/\/+$/, '')));
  // One read of the registry serves the requests of a few seconds; concurrent requests share it.
  let registry: { at: number; entries: Promise<Map<string, RegistryEntry>> } | undefined;
  function registryEntries(): Promise<Map<string, RegistryEntry>> {
    if (!registry || Date.now() - registry.at > registryTtlMs) {
      const entries = loadRegistry(store).then((list) => new Map(list.map((r) => [r.id, r])));
      registry = { at: Date.now(), entries };
      // A failed read is not cached: the next request tries again.
      entries.catch(() => {
        if (registry?.entries === entries) registry = undefined;
      });
    }
    return registry.entries;
  }

  /**
   * The registry entry a token speaks for, checked on every request: signature and expiry, then
   * that the reviewer is still in the registry and the token's version is still theirs.
   */
  async function reviewerOf(token: string | undefined | null): Promise<{ reviewer: RegistryEntry; expiresAt: number }> {
    const check = verifyReviewerToken(secret, token);
    if (!check.ok) {
      throw new HttpError(
        401,
        check.reason === 'expired'
          ? 'your sign-in link has expired; ask your review lead for a new one (`pixel review link --reviewer YOUR_ID`)'
          : 'sign in with your review link (or send Authorization: Bearer <token>)',
      );
    }
    let entries: Map<string, RegistryEntry>;
    try {
      entries = await registryEntries();
    } catch (err) {
      if (err instanceof NoReviewerRegistryError)
        throw new HttpError(401, 'there is no reviewer registry yet, so nobody can sign in; ask your review lead');
      console.error(`review-ui: the reviewer registry cannot be read: ${(err as Error).message}`);
      throw new HttpError(503, 'the reviewer registry cannot be read; try again shortly');
    }
    const entry = entries.get(check.reviewerId);
    if (!entry) throw new HttpError(401, 'you are not in the reviewer registry (any more); ask your review lead');
    if (entry.tokenVersion !== check.version) throw new HttpError(401, 'this sign-in link was revoked; ask your review lead for a new one');
    return { reviewer: entry, expiresAt: check.expiresAt };
  }

  // Review material files are written once per evaluation and never change: cache a few.
  const materials = new Map<string, Map<string, ReviewMaterial>>();
  async function materialFor(uri: string, itemId: string): Promise<ReviewMaterial | undefined> {
    let items = materials.get(uri);
    if (!items) {
      let text: string;
      try {
        text = await store.readText(uri);
      } catch (err) {
        if (err instanceof ArtifactNotFoundError) throw new HttpError(404, 'the review material of this review is missing from the artifact store');
        throw err;
      }
      items = parseMaterial(text);
      materials.set(uri, items);
      while (materials.size > MATERIAL_CACHE_SIZE) materials.delete(materials.keys().next().value as string);
    }
    return items.get(itemId);
  }

  function handle(workflowId: string, runId?: string): WorkflowHandle {
    return client.workflow.getHandle(workflowId, runId);
  }

  /** The review's status, or a 404 when there is no such review. */
  async function statusOf(workflowId: string, runId?: string): Promise<ReviewStatus> {
    try {
      return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle(workflowId, runId).query(getReviewStatusQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || err instanceof QueryNotRegisteredError) throw new HttpError(404, `no review ${workflowId}`);
      throw new HttpError(502, `the review ${workflowId} did not answer (${errorName(err)}); try again shortly`);
    }
  }

  async function assignments(reviewerId: string): Promise<AssignmentView[]> {
    const executions: { workflowId: string; runId: string }[] = [];
    const onQueue = options.taskQueue ? ` AND TaskQueue = '${options.taskQueue.replace(/'/g, '')}'` : '';
    for await (const w of client.workflow.list({ query: `WorkflowType = '${REVIEW_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'${onQueue}` })) {
      executions.push({ workflowId: w.workflowId, runId: w.runId });
      if (executions.length >= MAX_REVIEWS_LISTED) break;
    }
    const statuses = await mapInOrder(executions, QUERY_CONCURRENCY, async (e) => {
      try {
        return { ...e, status: await statusOf(e.workflowId) };
      } catch (err) {
        // One review without a worker must not hide the others.
        console.error(`review-ui: status of ${e.workflowId} unavailable: ${errorName(err)}`);
        return undefined;
      }
    });
    const out: AssignmentView[] = [];
    for (const s of statuses) {
      if (!s) continue;
      for (const item of s.status.items) {
        const done = item.reviewedBy.includes(reviewerId);
        if (!done && !item.assigned.includes(reviewerId)) continue;
        out.push({
          reviewId: s.status.reviewId,
          workflowId: s.workflowId,
          itemId: item.itemId,
          scenario: item.scenario,
          crisis: item.crisis,
          done,
          deadlineAt: s.status.deadlineAt,
        });
      }
    }
    // Open work first, crisis items first within it, then the nearest deadline.
    return out.sort(
      (a, b) =>
        Number(a.done) - Number(b.done) ||
        Number(b.crisis) - Number(a.crisis) ||
        a.deadlineAt.localeCompare(b.deadlineAt) ||
        a.workflowId.localeCompare(b.workflowId) ||
        a.itemId.localeCompare(b.itemId),
    );
  }

  /** The item's entry in the review's status, checked to belong to the reviewer. */
  function reviewerItem(status: ReviewStatus, workflowId: string, itemId: string, reviewerId: string) {
    const item = status.items.find((i) => i.itemId === itemId);
    if (!item) throw new HttpError(404, `review ${workflowId} has no item ${itemId}`);
    const done = item.reviewedBy.includes(reviewerId);
    if (!done && !item.assigned.includes(reviewerId)) throw new HttpError(403, `item ${itemId} is not assigned to you`);
    return { item, done };
  }

  async function showItem(reviewerId: string, workflowId: string, itemId: string) {
    const status = await statusOf(workflowId);
    const { item, done } = reviewerItem(status, workflowId, itemId, reviewerId);
    const m = await materialFor(status.reviewItemsUri, itemId);
    if (!m) throw new HttpError(404, `item ${itemId} has no review material`);
    return {
      reviewId: status.reviewId,
      workflowId,
      itemId,
      scenario: item.scenario,
      crisis: item.crisis,
      crisisDetail: m.crisis,
      reviewStatus: status.status,
      deadlineAt: status.deadlineAt,
      done,
      messages: m.messages.map((x) => ({ role: x.role, content: x.content })),
      reference: m.reference ?? null,
      candidate: m.candidate,
      baseline: m.baseline ?? null,
    };
  }

  async function submit(reviewerId: string, workflowId: string, itemId: string, body: unknown): Promise<RecordedReview> {
    const parsed = ReviewBodySchema.safeParse(body);
    if (!parsed.success) throw new HttpError(400, describeZodError('the review is not valid', parsed.error));
    const status = await statusOf(workflowId);
    reviewerItem(status, workflowId, itemId, reviewerId);
    if (status.status !== 'open') throw new HttpError(409, `the review is closed (${status.status})`);
    const input: SubmitReviewInput = { reviewerId, itemId, ...parsed.data };
    try {
      return await client.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
        handle(workflowId).executeUpdate(submitReviewUpdate, { args: [input] }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause;
        throw new HttpError(409, cause instanceof Error && cause.message ? cause.message : 'the review workflow rejected the review');
      }
      if (err instanceof WorkflowNotFoundError) throw new HttpError(409, 'the review is closed');
      throw new HttpError(502, `the review ${workflowId} did not accept the review (${errorName(err)}); try again shortly`);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      throw new HttpError(400, 'the request target is not a valid URL');
    }
    const method = req.method ?? 'GET';
    const pathname = url.pathname;

    if (!pathname.startsWith('/api/')) {
      if (pathname === '/login') {
        if (method !== 'GET') throw new HttpError(405, 'use GET');
        const token = url.searchParams.get('token');
        let expiresAt: number;
        try {
          ({ expiresAt } = await reviewerOf(token));
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
          sendHtml(res, err.status, 'Sign-in link not valid', `This sign-in link does not work: ${escapeHtml(err.message)}.`);
          return;
        }
        const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
        res.writeHead(303, {
          Location: '/',
          // The cookie lasts as long as the link; every request still checks the registry.
          // Secure where a TLS-terminating proxy says the page was reached over HTTPS.
          'Set-Cookie': `${REVIEW_COOKIE}=${encodeURIComponent(token ?? '')}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : ''}`,
          'Cache-Control': 'no-store',
        });
        res.end();
        return;
      }
      if (pathname === '/logout') {
        if (method !== 'POST') throw new HttpError(405, 'use POST');
        checkOrigin(req, false, allowedOrigins);
        res.writeHead(303, { Location: '/', 'Set-Cookie': `${REVIEW_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
        res.end();
        return;
      }
      const file = Object.prototype.hasOwnProperty.call(STATIC_FILES, pathname) ? STATIC_FILES[pathname] : undefined;
      if (!file) throw new HttpError(404, 'not found');
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
      const bytes = await fs.readFile(path.join(PUBLIC_DIR, file.file));
      res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': bytes.length, 'Cache-Control': 'no-cache' });
      res.end(method === 'HEAD' ? undefined : bytes);
      return;
    }

    const credential = credentialOf(req);
    if (method !== 'GET' && method !== 'HEAD') checkOrigin(req, credential.kind === 'cookie', allowedOrigins);
    const { reviewer } = await reviewerOf(credential.token);
    const reviewerId = reviewer.id;

    if (pathname === '/api/me') {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      sendJson(res, 200, { reviewerId, name: reviewer.name });
      return;
    }
    if (pathname === '/api/assignments') {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      sendJson(res, 200, await assignments(reviewerId));
      return;
    }
    const match = /^\/api\/reviews\/([^/]+)\/items\/([^/]+)$/.exec(pathname);
    if (match) {
      const workflowId = decodeSegment(match[1] ?? '');
      const itemId = decodeSegment(match[2] ?? '');
      if (method === 'GET') {
        sendJson(res, 200, await showItem(reviewerId, workflowId, itemId));
        return;
      }
      if (method === 'POST') {
        sendJson(res, 200, await submit(reviewerId, workflowId, itemId, await readJson(req)));
        return;
      }
      throw new HttpError(405, 'use GET or POST');
    }
    throw new HttpError(404, 'not found');
  }

  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        if (err.status === 413) res.setHeader('Connection', 'close');
        sendJson(res, err.status, { error: err.message });
        return;
      }
      // The path holds ids only; the query string may hold a token, so it is left out.
      console.error(`review-ui: ${req.method} ${(req.url ?? '').split('?')[0]} failed: ${errorName(err)}`);
      sendJson(res, 500, { error: 'the review server failed; see its log' });
    });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The token a request carries: a bearer token (CLI) or the sign-in cookie (page). */
function credentialOf(req: IncomingMessage): { kind: 'bearer' | 'cookie' | 'none'; token: string | undefined } {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    return { kind: 'bearer', token: m?.[1] };
  }
  const cookie = cookieValue(req.headers.cookie, REVIEW_COOKIE);
  return cookie ? { kind: 'cookie', token: cookie } : { kind: 'none', token: undefined };
}

/**
 * Refuses a state-changing request sent from another site. Browsers say where a request comes
 * from in `Sec-Fetch-Site` (which no page can forge) and `Origin`: the first must be
 * `same-origin`, the second this server's own address (as the request reached it) or one of
 * `allowedOrigins`. A form posted from a page with `Referrer-Policy: no-referrer` (this one)
 * carries `Origin: null`, so a null Origin is accepted only beside `Sec-Fetch-Site: same-origin`.
 * A cookie-borne request must carry one of the two; a bearer token (the CLI) cannot be sent by
 * another site's page, so it need not.
 */
function checkOrigin(req: IncomingMessage, cookieBorne: boolean, allowedOrigins: Set<string>): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'requests from other sites are refused');
  if (origin === undefined || (origin === 'null' && site !== undefined)) {
    if (cookieBorne && site === undefined) throw new HttpError(403, 'a request that changes something must say where it comes from (Origin header)');
    return;
  }
  const host = req.headers.host;
  const own = host ? [`http://${host}`, `https://${host}`] : [];
  if (!own.includes(origin) && !allowedOrigins.has(origin)) throw new HttpError(403, 'requests from other sites are refused');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'the address is not valid');
  }
}

/** The request's JSON body; 413 above {@link MAX_BODY_BYTES}, 415 when it is not JSON (which also keeps plain HTML forms from other sites out). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw new HttpError(413, `the request body is larger than ${MAX_BODY_BYTES / 1024} KB`);
  }
  if (type !== 'application/json') {
    req.resume();
    throw new HttpError(415, 'send the review as JSON (Content-Type: application/json)');
  }
  // Events rather than for-await: leaving a for-await loop early destroys the socket, and the
  // 413 could not be sent.
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        parts.push(chunk);
        return;
      }
      req.off('data', onData);
      req.resume();
      reject(new HttpError(413, `the request body is larger than ${MAX_BODY_BYTES / 1024} KB`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(parts));
    req.once('error', reject);
  });
  const bytes = Buffer.concat(chunks);
  // Decoding would silently replace bad bytes: a review must arrive as it was typed.
  if (firstBadUtf8Byte(bytes) >= 0) throw new HttpError(400, 'the request body is not valid UTF-8');
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the text; the reviewer's text stays out of responses and logs.
    throw new HttpError(400, 'the request body is not valid JSON');
  }
}

/** Parses the review-items JSONL; a bad line is named by number only (its text stays out of logs). */
export function parseMaterial(text: string): Map<string, ReviewMaterial> {
  const items = new Map<string, ReviewMaterial>();
  for (const l of jsonlLines(text)) {
    if (!l.ok) throw new Error(`review material line ${l.line} is not JSON`);
    const parsed = ReviewMaterialSchema.safeParse(l.value);
    if (!parsed.success) throw new Error(describeZodError(`review material line ${l.line}`, parsed.error));
    items.set(parsed.data.itemId, parsed.data);
  }
  return items;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendHtml(res: ServerResponse, status: number, title: string, html: string): void {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><link rel="stylesheet" href="/styles.css"></head><body><main id="main"><h1>${title}</h1><p>${html}</p></main></body></html>`;
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(page), 'Cache-Control': 'no-store' });
  res.end(page);
}

/** Error class and message, for logs: Temporal's errors name ids, never review texts. */
function errorName(err: unknown): string {
  if (err instanceof HttpError) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return 'unknown error';
}
