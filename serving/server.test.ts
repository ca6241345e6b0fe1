import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { tempDir } from '../test/helpers';
import { LocalArtifactStore } from '../shared/artifacts';
import { protocolElements } from '../shared/evaluation/metrics/safety-compliance';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { createDefaultModel } from '../shared/training/model/default-model';
import { startServing, type RunningServer } from './start';

const CRISIS = 'I have the pills saved up and I am going to take them all tonight to end my life';

/** The real server on loopback with tiny random models from a real registry, spoken to with the official `openai` client. */
describe('serving API (tiny models, real HTTP, openai client)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  let registry: ModelRegistry;
  let running: RunningServer;
  let client: OpenAI;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    t = tempDir();
    store = new LocalArtifactStore(path.join(t.dir, 'store'));
    registry = new ModelRegistry(store);
    for (const [version, seed] of [
      ['v1', 3],
      ['v2', 4],
    ] as const) {
      const dir = path.join(t.dir, version);
      await createDefaultModel(dir, 'tiny', seed);
      await registry.register({ version, modelUri: dir, createdAt: new Date().toISOString() });
    }
    await registry.promote('v1');
    running = await startServing({ store, pollMs: 100, maxBatch: 4, maxQueue: 4, maxTokens: 64, defaultMaxTokens: 16, log: (l) => logs.push(l) });
    client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }, 180_000);
  afterAll(async () => {
    await running?.close(5_000);
    t?.cleanup();
  });

  it('answers health, readiness and the model list', async () => {
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${running.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', model: 'v1' });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['v1']);
  });

  it('completes a chat (non-streaming) in the OpenAI shape', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'v1', messages: [{ role: 'user', content: 'I have been anxious at work.' }], max_tokens: 8, temperature: 0, seed: 1 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('v1');
    expect(data.id).toMatch(/^chatcmpl-/);
    const choice = data.choices[0]!;
    expect(choice.message.role).toBe('assistant');
    expect(typeof choice.message.content).toBe('string');
    expect(['stop', 'length', 'content_filter']).toContain(choice.finish_reason);
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(data.usage!.completion_tokens).toBeLessThanOrEqual(8);
    expect(data.usage!.prompt_tokens).toBeGreaterThan(5);
    expect(response.headers.get('x-pixel-guardrails')).toBeTruthy();
    // Greedy with the same seed gives the same reply.
    const again = await client.chat.completions.create({
      model: 'pixel',
      messages: [{ role: 'user', content: 'I have been anxious at work.' }],
      max_tokens: 8,
      temperature: 0,
      seed: 1,
    });
    expect(again.choices[0]!.message.content).toBe(choice.message.content);
  });

  it('answers curl, as a shell script would call it', async () => {
    const { stdout } = await promisify(execFile)('curl', [
      '-sS',
      '--fail-with-body',
      `${running.url}/v1/chat/completions`,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ model: 'v1', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
    ]);
    const body = JSON.parse(stdout) as { choices: { message: { role: string } }[]; model: string };
    expect(body.model).toBe('v1');
    expect(body.choices[0]?.message.role).toBe('assistant');
  });

  it('streams server-sent events in the OpenAI chunk format, with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'v1',
      messages: [{ role: 'user', content: 'I cannot sleep.' }],
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let completionTokens = 0;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.choices[0]?.delta.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(['stop', 'length', 'content_filter']).toContain(finish);
    expect(completionTokens).toBeGreaterThan(0);
    expect(typeof text).toBe('string');
  });

  it('puts the crisis protocol in front of the reply at HIGH or IMMINENT severity, and says so', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'v1', messages: [{ role: 'user', content: CRISIS }], max_tokens: 8 })
      .withResponse();
    const content = data.choices[0]!.message.content ?? '';
    expect(protocolElements(content)).toEqual(expect.arrayContaining(['acknowledge', 'assess', 'crisis_line', 'human_help']));
    expect(response.headers.get('x-pixel-guardrails')).toContain('crisis:protocol');
    const pixel = (data as unknown as { pixel: { guardrails: { rule: string }[]; crisisSeverity: string } }).pixel;
    expect(['HIGH', 'IMMINENT']).toContain(pixel.crisisSeverity);
    // Streaming: the protocol is the first text sent.
    const stream = await client.chat.completions.create({ model: 'v1', messages: [{ role: 'user', content: CRISIS }], max_tokens: 4, stream: true });
    let first = '';
    for await (const chunk of stream) if (!first && chunk.choices[0]?.delta.content) first = chunk.choices[0].delta.content;
    expect(protocolElements(first)).toEqual(expect.arrayContaining(['assess', 'crisis_line']));
    // The audit log has the decision without the text.
    const audit = logs.filter((l) => l.event === 'guardrail' && l.rule === 'crisis');
    expect(audit.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit)).not.toContain('pills');
  });

  it('refuses bad requests with the OpenAI error shape and status', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${running.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const ok = { model: 'v1', messages: [{ role: 'user', content: 'hi' }] };
    const cases: [unknown, number, RegExp, string | null][] = [
      ['{not json', 400, /not valid JSON/, null],
      [{ ...ok, temperature: 3 }, 400, /temperature/, 'temperature'],
      [{ ...ok, tools: [] }, 400, /unknown field "tools"/, 'tools'],
      [{ ...ok, messages: [] }, 400, /messages is empty/, 'messages'],
      [{ ...ok, n: 2 }, 400, /only n = 1/, 'n'],
      [{ ...ok, max_tokens: 10_000 }, 400, /max_tokens is at most 64/, 'max_tokens'],
      [{ ...ok, model: 'gpt-4o' }, 404, /not served here/, 'model'],
      [{ ...ok, messages: [{ role: 'user', content: 'word '.repeat(5000) }] }, 400, /context is \d+ tokens/, 'messages'],
    ];
    for (const [body, status, message, param] of cases) {
      const res = await post(body);
      expect(res.status).toBe(status);
      const err = (await res.json()) as { error: { message: string; type: string; param: string | null } };
      expect(err.error.message).toMatch(message);
      expect(err.error.param).toBe(param);
    }
    const big = await post({ ...ok, messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] });
    expect(big.status).toBe(413);
    // The client library maps them to its error classes.
    await expect(client.chat.completions.create({ model: 'v1', messages: [], max_tokens: 2 })).rejects.toMatchObject({ status: 400 });
  });

  it('answers 429 when the batch and the queue are full, and every other request completes', async () => {
    // Four times what the server holds (batch 4 + queue 4) at once, so that requests finishing
    // early (a sampled end of text) cannot make room for all the others on a loaded machine.
    const results = await Promise.all(
      Array.from({ length: 32 }, () =>
        fetch(`${running.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'v1', messages: [{ role: 'user', content: 'Tell me about your day.' }], max_tokens: 64, temperature: 1 }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { type: string } } })),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(results.find((r) => r.status === 429)?.body.error?.type).toBe('rate_limit_exceeded');
  }, 60_000);

  it('exports Prometheus metrics: requests by route and code, latency, first token, tokens, queue and guardrail decisions', async () => {
    const res = await fetch(`${running.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    // One sample's value, by name and exact labels (in the order prom-client writes them).
    const value = (name: string, labels = '') => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    // The earlier tests' requests: answered chats, refused ones (400, 401 is later), the burst's 429s.
    expect(value('pixel_serve_requests_total', 'route="chat_completions",code="200"')).toBeGreaterThanOrEqual(5);
    expect(value('pixel_serve_requests_total', 'route="chat_completions",code="400"')).toBeGreaterThanOrEqual(1);
    expect(value('pixel_serve_requests_total', 'route="chat_completions",code="429"')).toBeGreaterThanOrEqual(1);
    expect(value('pixel_serve_request_duration_seconds_count', 'route="chat_completions",stream="true"')).toBeGreaterThanOrEqual(1);
    expect(value('pixel_serve_time_to_first_token_seconds_count', 'stream="false"')).toBeGreaterThanOrEqual(3);
    expect(value('pixel_serve_completion_tokens_total')).toBeGreaterThan(10);
    expect(value('pixel_serve_queue_depth')).toBe(0);
    expect(value('pixel_serve_queue_limit')).toBe(4);
    expect(value('pixel_serve_model_info', 'version="v1"')).toBe(1);
    // The crisis message of the earlier test: its decision is counted by rule, severity and action.
    expect(text).toMatch(/^pixel_serve_guardrail_events_total\{rule="crisis",severity="(HIGH|IMMINENT)",action="[a-z_-]+"\} [1-9]/m);
    // Never a request id or text in a label.
    expect(text).not.toMatch(/chatcmpl-|anxious|pills/);
    // Node's process metrics too.
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('answers 400 to a request target that is not a URL, counts it, and keeps serving', async () => {
    const { port } = new URL(running.url);
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
    });
    expect(status).toBe('HTTP/1.1 400 Bad Request');
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${running.url}/metrics`)).text()).toMatch(/^pixel_serve_requests_total\{route="other",code="400"\} [1-9]/m);
  });

  it('switches to a newly promoted model without failing a request, and rolls back', async () => {
    const answers: { sentAt: number; model: string }[] = [];
    let failures = 0;
    let stop = false;
    const load = async () => {
      while (!stop) {
        const sentAt = Date.now();
        try {
          const r = await client.chat.completions.create({ model: 'pixel', messages: [{ role: 'user', content: 'hello' }], max_tokens: 6 });
          answers.push({ sentAt, model: r.model });
        } catch {
          failures += 1;
        }
      }
    };
    const until = async (what: () => boolean) => {
      const deadline = Date.now() + 60_000;
      while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(what()).toBe(true);
      return Date.now();
    };
    const clients = [load(), load(), load()];
    await until(() => answers.length >= 3);
    await registry.promote('v2');
    const switched = await until(() => running.host.current?.version === 'v2');
    await until(() => answers.some((a) => a.sentAt > switched));
    expect(await registry.rollback()).toEqual({ from: 'v2', to: 'v1' });
    const back = await until(() => running.host.current?.version === 'v1');
    await until(() => answers.filter((a) => a.sentAt > back).length >= 3);
    stop = true;
    await Promise.all(clients);
    expect(failures).toBe(0);
    // Requests sent after a switch are answered by the model switched to (those in flight finish on the old one).
    expect(new Set(answers.filter((a) => a.sentAt > switched && a.sentAt < back - 1000).map((a) => a.model))).not.toContain('v1');
    expect(new Set(answers.filter((a) => a.sentAt > back).map((a) => a.model))).toEqual(new Set(['v1']));
    expect(answers.some((a) => a.model === 'v2')).toBe(true);
    expect(logs.filter((l) => l.event === 'model_loaded').map((l) => l.version)).toEqual(['v1', 'v2', 'v1']);
  }, 120_000);
});

describe('serving API: authentication and graceful shutdown', () => {
  let t: ReturnType<typeof tempDir>;
  let running: RunningServer;
  beforeAll(async () => {
    t = tempDir();
    const dir = path.join(t.dir, 'tiny');
    await createDefaultModel(dir, 'tiny', 3);
    running = await startServing({
      model: { version: 'base', dir },
      apiKeys: ['k-123'],
      crisisModel: 'rules',
      personModel: 'rules',
      log: () => undefined,
    });
  }, 120_000);
  afterAll(() => t?.cleanup());

  it('refuses a missing or wrong key with 401 and accepts the right one; health stays open', async () => {
    const chat = (key?: string) =>
      fetch(`${running.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ model: 'base', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
      });
    expect((await chat()).status).toBe(401);
    expect((await chat('wrong')).status).toBe(401);
    expect((await chat('k-123')).status).toBe(200);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    const client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: 'k-123', maxRetries: 0 });
    expect((await client.models.list()).data[0]?.id).toBe('base');
  });

  it('finishes the requests in progress when shutting down, then stops listening', async () => {
    const client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: 'k-123', maxRetries: 0 });
    // Three long sampled replies: the tiny model generates a token in about a millisecond and may
    // end a reply early, so one request alone could be over before the test looks (40 tokens once
    // were, in CI); at least one of three is still generating.
    const streams = await Promise.all(
      [1, 2, 3].map(async (seed) => {
        const stream = await client.chat.completions.create({
          model: 'base',
          messages: [{ role: 'user', content: 'Tell me a story.' }],
          max_tokens: 180,
          temperature: 1,
          seed,
          stream: true,
        });
        const chunks = stream[Symbol.asyncIterator]();
        // The first chunk is sent before generation starts: the request is in progress now.
        expect((await chunks.next()).done).toBe(false);
        return chunks;
      }),
    );
    expect(running.server.inFlight).toBeGreaterThanOrEqual(1);
    const closing = running.close(10_000);
    for (const chunks of streams) {
      let finish: string | null | undefined;
      for (let c = await chunks.next(); !c.done; c = await chunks.next()) finish = c.value.choices[0]?.finish_reason ?? finish;
      expect(['stop', 'length']).toContain(finish);
    }
    await closing;
    expect(running.server.inFlight).toBe(0);
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
  }, 60_000);
});
