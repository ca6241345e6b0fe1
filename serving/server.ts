import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeZodError, type Message } from '../shared/contracts';
import { ChatCompletionRequestSchema, type ChatCompletionRequest } from '../shared/contracts/serving';
import { Redactor } from '../shared/safety/redact';
import type { RequestSampling } from './batcher';
import { ContextLengthError, type Completion, type Generator, type ModelHost } from './generator';
import type { GuardrailEvent, Guardrails, InputVerdict } from './guardrails';
import { SAFE_FALLBACK, SentenceBuffer } from './guardrails';
import { ServingMetrics, routeOf } from './metrics';

/** Limits and settings of one server; every limit has a clear error when it is reached. */
export interface ServingOptions {
  host: ModelHost;
  guardrails: Guardrails;
  /** Requests waiting for a place in the running batch, at most (beyond them: 429). */
  maxQueue: number;
  /** Requests decoded together (the host's batch). */
  maxBatch: number;
  /** The largest `max_tokens` a request may ask for, and the default. */
  maxTokens: number;
  defaultMaxTokens: number;
  /** A request that takes longer is ended (504, or an error event when streaming). */
  timeoutMs: number;
  /** Request bodies over this are refused (413). */
  maxBodyBytes: number;
  /** Bearer tokens accepted; empty: no authentication. */
  apiKeys: readonly string[];
  /** Model ids clients may name besides the served version. */
  aliases: readonly string[];
  /** Structured log lines (audit events, model switches); never raw text. */
  log: (line: Record<string, unknown>) => void;
}

type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_exceeded' | 'server_error' | 'timeout';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The OpenAI-compatible chat server. */
export class ServingServer {
  readonly server: Server;
  /** Prometheus metrics, served at `GET /metrics` (requests, latency, tokens, queue, guardrail decisions). */
  readonly metrics: ServingMetrics;
  /**
   * Whether replies go through the guardrails. Always true for `pixel serve`; the serving
   * benchmark turns it off between requests to measure what the guardrails cost on the same server.
   */
  guardrailsEnabled = true;
  private active = 0;
  private closing = false;
  /** Responses sent as server-sent events (their latency is counted apart). */
  private readonly streaming = new WeakSet<ServerResponse>();
  private readonly keys: Buffer[];

  constructor(private readonly o: ServingOptions) {
    this.keys = o.apiKeys.map(digest);
    this.metrics = new ServingMetrics({
      inFlight: () => this.active,
      maxBatch: o.maxBatch,
      maxQueue: o.maxQueue,
      model: () => o.host.current?.version,
    });
    this.server = createServer((req, res) => {
      const started = process.hrtime.bigint();
      const p = pathOf(req.url);
      res.once('close', () => {
        const route = routeOf(p ?? '');
        const stream = this.streaming.has(res);
        this.metrics.requests.inc({ route, code: String(res.statusCode) });
        this.metrics.duration.observe({ route, stream: String(stream) }, Number(process.hrtime.bigint() - started) / 1e9);
      });
      this.route(req, res, p).catch((err: unknown) => this.fail(res, err));
    });
  }

  /** Starts listening; resolves with the port. */
  listen(port: number, hostname: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, hostname, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  /** Requests in progress. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Graceful shutdown: no new connections, new requests on open ones get 503, requests in
   * progress finish (at most `graceMs`), then the model threads end.
   */
  async close(graceMs = 30_000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
    await this.o.host.close();
  }

  /** Answers one request; `p` is its path (see `pathOf`), undefined when the target is not a URL. */
  private async route(req: IncomingMessage, res: ServerResponse, p: string | undefined): Promise<void> {
    if (p === undefined) throw new HttpError(400, 'invalid_request_error', 'the request target is not a valid URL');
    if (p === '/healthz' && req.method === 'GET') return this.json(res, 200, { status: 'ok' });
    if (p === '/metrics' && req.method === 'GET') {
      // No text, ids or keys in it; open like /healthz, so that Prometheus scrapes without a key.
      const { contentType, text } = await this.metrics.exposition();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (p === '/readyz' && req.method === 'GET') {
      const g = this.o.host.current;
      const ready = !this.closing && g !== undefined && g.healthy;
      return this.json(
        res,
        ready ? 200 : 503,
        ready ? { status: 'ready', model: g.version } : { status: this.closing ? 'shutting down' : 'loading' },
      );
    }
    if (p === '/v1/models' || p === '/v1/chat/completions') {
      this.authenticate(req);
      if (p === '/v1/models') {
        if (req.method !== 'GET') throw new HttpError(405, 'invalid_request_error', `${p} takes GET`);
        const g = this.o.host.current;
        return this.json(res, 200, {
          object: 'list',
          data: g ? [{ id: g.version, object: 'model', created: 0, owned_by: 'pixel' }] : [],
        });
      }
      if (req.method !== 'POST') throw new HttpError(405, 'invalid_request_error', `${p} takes POST`);
      return this.chat(req, res);
    }
    throw new HttpError(404, 'not_found_error', `no route ${req.method} ${p.slice(0, 100)}`);
  }

  private authenticate(req: IncomingMessage): void {
    if (this.keys.length === 0) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    const given = m ? digest(m[1] as string) : undefined;
    if (!given || !this.keys.some((k) => timingSafeEqual(k, given)))
      throw new HttpError(
        401,
        'authentication_error',
        m ? 'the API key is not valid' : 'an API key is required (Authorization: Bearer <key>)',
        null,
        'invalid_api_key',
      );
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.o.maxBodyBytes)
      throw new HttpError(413, 'invalid_request_error', `the request body is over ${this.o.maxBodyBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.o.maxBodyBytes) throw new HttpError(413, 'invalid_request_error', `the request body is over ${this.o.maxBodyBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    } catch {
      throw new HttpError(400, 'invalid_request_error', 'the request body is not valid UTF-8');
    }
    try {
      return JSON.parse(text);
    } catch {
      // V8's message quotes the text: say only that it is not JSON.
      throw new HttpError(400, 'invalid_request_error', 'the request body is not valid JSON');
    }
  }

  private parse(body: unknown): ChatCompletionRequest {
    const parsed = ChatCompletionRequestSchema.safeParse(body);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const param = first?.code === 'unrecognized_keys' ? (first.keys[0] ?? null) : (first?.path.join('.') ?? null);
      throw new HttpError(
        400,
        'invalid_request_error',
        describeZodError('invalid chat completion request', parsed.error, 3),
        param?.slice(0, 64) ?? null,
      );
    }
    return parsed.data;
  }

  private audit(requestId: string, events: readonly GuardrailEvent[]): void {
    for (const e of events) {
      this.metrics.guardrailEvents.inc({ rule: e.rule, severity: e.severity, action: e.action });
      this.o.log({ event: 'guardrail', requestId, ...e });
    }
  }

  private async chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closing) throw new HttpError(503, 'server_error', 'the server is shutting down');
    const body = this.parse(await this.readBody(req));
    const named = this.pick();
    if (body.model !== named.version && !this.o.aliases.includes(body.model))
      throw new HttpError(
        404,
        'invalid_request_error',
        `the model named is not served here (this server serves ${named.version}${this.o.aliases.length > 0 ? `, also called ${this.o.aliases.join(', ')}` : ''}); GET /v1/models lists it`,
        'model',
        'model_not_found',
      );
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? this.o.defaultMaxTokens;
    if (maxTokens > this.o.maxTokens)
      throw new HttpError(400, 'invalid_request_error', `max_tokens is at most ${this.o.maxTokens} here`, 'max_tokens');
    if (this.active >= this.o.maxBatch + this.o.maxQueue)
      throw new HttpError(429, 'rate_limit_exceeded', `the server is busy (${this.active} requests in progress); retry shortly`);
    this.active += 1;
    const started = process.hrtime.bigint();
    const requestId = `chatcmpl-${randomUUID()}`;
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new HttpError(504, 'timeout', `the request took longer than ${this.o.timeoutMs} ms`)),
      this.o.timeoutMs,
    );
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client went away'));
    });
    try {
      const messages: Message[] = body.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: m.content }));
      const sampling: RequestSampling = {
        temperature: body.temperature ?? 0.7,
        topP: body.top_p ?? 0.9,
        topK: body.top_k ?? 50,
        maxTokens,
        stop: body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop,
        seed: body.seed == null ? randomInt(0, 2 ** 32) : body.seed >>> 0,
      };
      const clock = new GuardrailClock();
      const input = this.guardrailsEnabled ? await clock.time(() => this.o.guardrails.checkInput(messages)) : UNGUARDED_INPUT;
      this.audit(requestId, input.events);
      const generator = this.pick();
      const meta = { id: requestId, created: Math.floor(Date.now() / 1000), model: generator.version };
      const context: ChatContext = { res, generator, meta, body, messages, sampling, input, clock, signal: abort.signal, started };
      if (body.stream) await this.stream(context);
      else await this.complete(context);
      if (this.guardrailsEnabled) this.metrics.guardrailSeconds.observe(clock.ms / 1000);
    } finally {
      clearTimeout(timer);
      this.active -= 1;
    }
  }

  private async complete(x: ChatContext): Promise<void> {
    const { res, meta, input, clock, signal } = x;
    let text = '';
    const done = await this.generate(x, (t) => (text += t), signal);
    if (done.finishReason === 'cancelled') throw signal.reason instanceof HttpError ? signal.reason : new HttpError(499, 'server_error', 'cancelled');
    const output = this.guardrailsEnabled
      ? await clock.time(() => this.o.guardrails.checkOutput(text.trim()))
      : { text: text.trim(), blocked: false, events: [] };
    this.audit(meta.id, output.events);
    const events = [...input.events, ...output.events];
    const content = input.protocol ? `${input.protocol}${output.text ? `\n\n${output.text}` : ''}` : output.text;
    res.setHeader('x-pixel-guardrails', guardrailHeader(events));
    res.setHeader('x-pixel-guardrail-ms', clock.ms.toFixed(2));
    this.json(res, 200, {
      ...meta,
      object: 'chat.completion',
      system_fingerprint: `pixel-${meta.model}`,
      choices: [
        { index: 0, message: { role: 'assistant', content }, finish_reason: output.blocked ? 'content_filter' : done.finishReason, logprobs: null },
      ],
      usage: usage(done),
      pixel: { guardrails: events, crisisSeverity: input.severity, guardrailMs: round2(clock.ms) },
    });
  }

  private async stream(x: ChatContext): Promise<void> {
    const { res, meta, body, input, clock, signal } = x;
    this.streaming.add(res);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-pixel-guardrails': guardrailHeader(input.events),
    });
    const send = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) =>
      res.write(
        `data: ${JSON.stringify({ ...meta, object: 'chat.completion.chunk', system_fingerprint: `pixel-${meta.model}`, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...extra })}\n\n`,
      );
    send({ role: 'assistant', content: '' }, null, { pixel: { guardrails: input.events, crisisSeverity: input.severity } });
    if (input.protocol) send({ content: `${input.protocol}\n\n` });
    // Each sentence is checked before it is sent (with the one before it, so a rule that spans
    // the two still sees them); a failing sentence ends the reply with the fallback.
    const sentences = new SentenceBuffer();
    const redactor = new Redactor();
    const events: GuardrailEvent[] = [];
    let previous = '';
    let blocked = false;
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    let queue = Promise.resolve();
    const release = (sentence: string) => {
      queue = queue.then(async () => {
        if (blocked || sentence.length === 0) return;
        if (!this.guardrailsEnabled) {
          send({ content: sentence });
          return;
        }
        const bad = await clock.time(async () => this.o.guardrails.blockedBy(previous + sentence));
        if (bad.length > 0) {
          blocked = true;
          events.push(...bad);
          this.audit(meta.id, bad);
          stop.abort();
          send({ content: `${previous ? '\n\n' : ''}${SAFE_FALLBACK}` });
          return;
        }
        const { text, events: redacted } = await clock.time(() => this.o.guardrails.redact(sentence, redactor));
        events.push(...redacted);
        this.audit(meta.id, redacted);
        previous = sentence;
        send({ content: text });
      });
    };
    let done: Completion;
    try {
      done = await this.generate(x, (t) => sentences.push(t).forEach(release), both);
    } catch (err) {
      await queue;
      return this.streamError(res, err);
    }
    release(sentences.flush());
    await queue;
    if (done.finishReason === 'cancelled' && !blocked) {
      return this.streamError(res, signal.reason instanceof HttpError ? signal.reason : new HttpError(499, 'server_error', 'cancelled'));
    }
    send({}, blocked ? 'content_filter' : done.finishReason, {
      pixel: { guardrails: [...input.events, ...events], crisisSeverity: input.severity, guardrailMs: round2(clock.ms) },
    });
    if (body.stream_options?.include_usage)
      res.write(`data: ${JSON.stringify({ ...meta, object: 'chat.completion.chunk', choices: [], usage: usage(done) })}\n\n`);
    res.end('data: [DONE]\n\n');
  }

  private streamError(res: ServerResponse, err: unknown): void {
    const e = toHttpError(err);
    if (!res.writableEnded) res.end(`data: ${JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.code } })}\n\n`);
  }

  /** Generates the reply on the request's model, counting its time to first text and its tokens. */
  private async generate(x: ChatContext, onDelta: (text: string) => void, signal: AbortSignal): Promise<Completion> {
    let first = true;
    const delta = (text: string) => {
      if (first) {
        first = false;
        this.metrics.firstToken.observe({ stream: String(x.body.stream === true) }, Number(process.hrtime.bigint() - x.started) / 1e9);
      }
      onDelta(text);
    };
    try {
      const done = await x.generator.generate(x.meta.id, x.messages, x.sampling, delta, signal);
      this.metrics.completionTokens.inc(done.completionTokens);
      this.metrics.promptTokens.inc(done.promptTokens);
      return done;
    } catch (err) {
      if (err instanceof ContextLengthError) throw new HttpError(400, 'invalid_request_error', err.message, 'messages', 'context_length_exceeded');
      throw err;
    }
  }

  /** The model that answers now (a request keeps it even if a newer one is loaded meanwhile). */
  private pick(): Generator {
    const g = this.o.host.current;
    if (!g || !g.healthy || g.draining) throw new HttpError(503, 'server_error', 'no model is loaded yet');
    return g;
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    const e = toHttpError(err);
    if (e.status >= 500 && !(err instanceof HttpError)) this.o.log({ event: 'error', status: e.status, message: e.message });
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    this.json(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } });
  }
}

/** One chat request on its way: what was parsed and decided before generation. */
interface ChatContext {
  res: ServerResponse;
  /** The model version answering (kept even if a newer one is loaded meanwhile). */
  generator: Generator;
  meta: { id: string; created: number; model: string };
  body: ChatCompletionRequest;
  messages: Message[];
  sampling: RequestSampling;
  input: InputVerdict;
  clock: GuardrailClock;
  signal: AbortSignal;
  /** When the request arrived (its time to first token is counted from here). */
  started: bigint;
}

/** Wall time a request spends in its guardrails. */
class GuardrailClock {
  ms = 0;
  async time<T>(f: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      return await f();
    } finally {
      this.ms += Number(process.hrtime.bigint() - started) / 1e6;
    }
  }
}

const UNGUARDED_INPUT: InputVerdict = { severity: 'NONE', events: [] };
const round2 = (x: number) => Math.round(x * 100) / 100;

/** A request target's path without trailing slashes, or undefined when it is not a URL (`GET http://[`, say). */
function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  } catch {
    return undefined;
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  return new HttpError(500, 'server_error', err instanceof Error ? err.message.slice(0, 300) : 'internal error');
}

function usage(done: Completion) {
  return { prompt_tokens: done.promptTokens, completion_tokens: done.completionTokens, total_tokens: done.promptTokens + done.completionTokens };
}

/** The guardrail decisions of a reply as a header value: `rule:action` pairs, or `none`. */
export function guardrailHeader(events: readonly GuardrailEvent[]): string {
  return events.length === 0 ? 'none' : [...new Set(events.map((e) => `${e.rule}:${e.action}`))].join(', ');
}
