import { Option, type Command } from 'commander';
import { reviewOrigins, startReviewServer, type AssignmentView } from '../review-ui/server';
import { artifactStoreFromEnv } from '../shared/artifacts';
import { connectTemporal } from '../client/connect';
import { CPU_TASK_QUEUE, SAFETY_LABELS, SubmitReviewInputSchema, parseWith } from '../shared/contracts';
import { DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, reviewSecret, signReviewerToken, tokenExpiry } from '../shared/review/auth';
import { REVIEWERS_KEY, bumpTokenVersion, ensureReviewers, loadRegistry, loadReviewers } from '../shared/review/reviewers';
import { intOption } from './options';

const DEFAULT_PORT = 8234;
const defaultServer = () => process.env.PIXEL_REVIEW_URL ?? `http://localhost:${DEFAULT_PORT}`;
const ID_PATTERN = /^[\w.:@-]+$/;

/** `--reviewer`'s value, refused (without echoing it) unless it is a reviewer id. */
function reviewerIdOption(id: string): string {
  if (!ID_PATTERN.test(id)) throw new Error('--reviewer: a reviewer id holds only letters, digits and . _ : @ -');
  return id;
}

interface ClientOptions {
  token?: string;
  server: string;
}

/** The reviewer's token: `--token`, else `PIXEL_REVIEW_TOKEN` (keeps it out of shell history). */
function tokenOf(opts: ClientOptions): string {
  const token = opts.token ?? process.env.PIXEL_REVIEW_TOKEN;
  if (!token) throw new Error('give your review token with --token or PIXEL_REVIEW_TOKEN (it is the token=... part of your sign-in link)');
  return token;
}

/** Calls the review server's API with the bearer token; a non-2xx answer throws the server's own message. */
async function callApi<T>(opts: ClientOptions, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const base = opts.server.replace(/\/+$/, '');
  const token = tokenOf(opts);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the review server at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : String(err)}); start it with \`pixel review serve\` or pass --server`,
    );
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const message =
      body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string'
        ? (body as { error: string }).error
        : `the review server answered ${res.status}`;
    throw new Error(message);
  }
  return body as T;
}

const itemPath = (workflowId: string, itemId: string) => `/api/reviews/${encodeURIComponent(workflowId)}/items/${encodeURIComponent(itemId)}`;

/** One line of `GET /api/assignments`. */
type AssignmentLine = AssignmentView;

interface ItemView {
  reviewId: string;
  workflowId: string;
  itemId: string;
  scenario: string;
  crisis: boolean;
  crisisDetail: { severity?: string; types?: string[]; protocol?: string } | null;
  reviewStatus: string;
  deadlineAt: string;
  done: boolean;
  messages: { role: string; content: string }[];
  reference: string | null;
  candidate: { response: string; safety: { pass: boolean | null; failures: unknown[] }; empathy: number | null; clinical: number | null };
  baseline: { response: string } | null;
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** `pixel review ...`: the review web server, reviewers' sign-in links and the registry, and reviewing from the terminal. */
export function registerReviewCommands(program: Command): void {
  const review = program
    .command('review')
    .description('Expert review: the reviewers’ web page, sign-in links, the reviewer registry, and reviewing from the terminal');

  review
    .command('serve')
    .description('Start the reviewers’ web page and API against the running stack')
    .option('--port <port>', 'port to listen on', intOption('--port', 0, 65535), DEFAULT_PORT)
    .option('--host <host>', 'address to listen on (0.0.0.0 serves other machines)', process.env.PIXEL_REVIEW_HOST ?? '127.0.0.1')
    .addHelpText(
      'after',
      '\nConnects to PIXEL_TEMPORAL_ADDRESS (default localhost:7233); reads review material from PIXEL_ARTIFACTS. Ctrl-C stops it.',
    )
    .action(async (opts: { port: number; host: string }) => {
      const { connection, client, settings } = await connectTemporal();
      const server = await startReviewServer({
        client,
        store: artifactStoreFromEnv(),
        secret: reviewSecret(),
        port: opts.port,
        host: opts.host,
        namespace: settings.namespace,
        taskQueue: CPU_TASK_QUEUE,
        allowedOrigins: reviewOrigins(),
      }).catch(async (err: unknown) => {
        await connection.close();
        throw err;
      });
      console.log(`review server listening on ${server.url}`);
      console.log(`  reviewers sign in with: pixel review link --reviewer ID --base ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      console.log('stopping the review server ...');
      await server.close();
      await connection.close();
    });

  review
    .command('link')
    .description('Print a reviewer’s personal sign-in link (whoever has it can review as them until it expires: send it privately)')
    .requiredOption('--reviewer <id>', 'the reviewer’s id in the registry')
    .option('--base <url>', 'the review server’s address', defaultServer())
    .option('--days <n>', `how many days the link works (1-${MAX_TOKEN_DAYS})`, intOption('--days', 1, MAX_TOKEN_DAYS), DEFAULT_TOKEN_DAYS)
    .action(async (opts: { reviewer: string; base: string; days: number }) => {
      const reviewerId = reviewerIdOption(opts.reviewer);
      const store = artifactStoreFromEnv();
      const entry = (await loadRegistry(store)).find((r) => r.id === reviewerId);
      if (!entry)
        throw new Error(
          `${opts.reviewer} is not in the reviewer registry (${store.uriFor(REVIEWERS_KEY)}); only registered reviewers can sign in: add them there first`,
        );
      const expiresAt = tokenExpiry(opts.days);
      const token = signReviewerToken(reviewSecret(), entry.id, { version: entry.tokenVersion, expiresAt });
      console.log(`${opts.base.replace(/\/+$/, '')}/login?token=${encodeURIComponent(token)}`);
      console.error(`works until ${new Date(expiresAt).toISOString()}; \`pixel review revoke --reviewer ${entry.id}\` revokes it sooner`);
    });

  review
    .command('revoke')
    .description('Revoke every sign-in link of a reviewer at once (their next link works again); remove them from the registry to end their access')
    .requiredOption('--reviewer <id>', 'the reviewer’s id in the registry')
    .action(async (opts: { reviewer: string }) => {
      const version = await bumpTokenVersion(artifactStoreFromEnv(), reviewerIdOption(opts.reviewer));
      console.log(`revoked the sign-in links of ${opts.reviewer} (token version now ${version}); review servers refuse them within seconds`);
    });

  review
    .command('reviewers')
    .description('Print the reviewer registry (review/reviewers.json in the artifact store)')
    .option('--init', 'write the default registry first, unless one exists')
    .action(async (opts: { init?: boolean }) => {
      const store = artifactStoreFromEnv();
      const reviewers = opts.init ? await ensureReviewers(store) : await loadReviewers(store);
      console.log(`${store.uriFor(REVIEWERS_KEY)}:`);
      for (const r of reviewers) {
        const flags = [r.lead ? 'lead' : '', r.available ? '' : 'unavailable'].filter(Boolean).join(', ');
        console.log(
          `  ${r.id.padEnd(16)} ${r.name.padEnd(28)} ${r.specialties.join(',').padEnd(34)} capacity ${r.capacity}${flags ? `  (${flags})` : ''}`,
        );
      }
    });

  const clientOptions = (cmd: Command) =>
    cmd
      .option('--token <token>', 'your review token (default PIXEL_REVIEW_TOKEN)')
      .option('--server <url>', 'the review server (PIXEL_REVIEW_URL sets the default)', defaultServer());

  clientOptions(review.command('list').description('List your assignments (open first)')).action(async (opts: ClientOptions) => {
    const rows = await callApi<AssignmentLine[]>(opts, '/api/assignments');
    if (rows.length === 0) {
      console.log('nothing assigned to you right now');
      return;
    }
    for (const a of rows) {
      console.log(
        `${a.done ? 'done' : 'open'}  ${a.crisis ? 'CRISIS ' : ''}${a.itemId}  ${a.scenario}  --review ${a.workflowId}  due ${a.deadlineAt}`,
      );
    }
  });

  clientOptions(
    review
      .command('show')
      .description('Print an item: the conversation, the reply of the model under review, the previous model’s reply and the automatic scores')
      .argument('<item>', 'item id')
      .requiredOption('--review <workflowId>', 'the review’s workflow id (from `pixel review list`)'),
  ).action(async (itemId: string, opts: ClientOptions & { review: string }) => {
    const item = await callApi<ItemView>(opts, itemPath(opts.review, itemId));
    const lines: string[] = [];
    lines.push(
      `item ${item.itemId} (${item.scenario}) in review ${item.reviewId}, due ${item.deadlineAt}${item.done ? ' — you have reviewed it' : ''}${item.reviewStatus !== 'open' ? ` — the review is ${item.reviewStatus}` : ''}`,
    );
    if (item.crisis) {
      const d = item.crisisDetail;
      lines.push(
        `CRISIS ITEM${d ? `: severity ${d.severity ?? '?'}${d.types?.length ? `, ${d.types.join(', ')}` : ''}, protocol ${d.protocol ?? '?'}` : ''}`,
      );
    }
    lines.push('', 'Conversation:');
    for (const m of item.messages) lines.push(`  [${m.role}]`, indent(m.content));
    if (item.reference) lines.push('', 'The data set’s own reply:', indent(item.reference));
    lines.push('', 'Model under review:', indent(item.candidate.response || '(empty reply)'));
    const s = item.candidate;
    lines.push(
      `  automatic scores: safety ${s.safety.pass === null ? 'not run' : s.safety.pass ? 'passed' : `failed (${s.safety.failures.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join('; ')})`}, empathy ${s.empathy ?? '-'}, clinical ${s.clinical ?? '-'}`,
    );
    lines.push('', 'Previous model:', indent(item.baseline ? item.baseline.response || '(empty reply)' : '(none)'));
    console.log(lines.join('\n'));
  });

  const score = (name: string) => intOption(name, 1, 5);
  clientOptions(
    review
      .command('submit')
      .description('Submit your scores for an item (1 = poor, 5 = excellent)')
      .argument('<item>', 'item id')
      .requiredOption('--review <workflowId>', 'the review’s workflow id (from `pixel review list`)')
      .requiredOption('--clinical <n>', 'clinical accuracy, 1-5', score('--clinical'))
      .requiredOption('--empathy <n>', 'empathy, 1-5', score('--empathy'))
      .requiredOption('--safety <n>', 'safety, 1-5', score('--safety'))
      .addOption(new Option('--label <label>', 'safety label').choices([...SAFETY_LABELS]).makeOptionMandatory())
      .option('--comment <text>', 'a comment (at most 4000 characters)', ''),
  ).action(
    async (
      itemId: string,
      opts: ClientOptions & { review: string; clinical: number; empathy: number; safety: number; label: string; comment: string },
    ) => {
      const body = {
        scores: { clinicalAccuracy: opts.clinical, empathy: opts.empathy, safety: opts.safety },
        safetyLabel: opts.label,
        comment: opts.comment,
      };
      // Checked here first, so a mistake is named before anything is sent.
      const parsed = parseWith(SubmitReviewInputSchema.omit({ reviewerId: true, itemId: true }), 'the review', body);
      if (!parsed.ok) throw new Error(parsed.message);
      const recorded = await callApi<{ itemId: string; at: string }>(opts, itemPath(opts.review, itemId), { method: 'POST', body });
      console.log(`review of item ${recorded.itemId} recorded at ${recorded.at}`);
    },
  );
}
