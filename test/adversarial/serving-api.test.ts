/**
 * Adversarial suite, serving API: the OpenAI-compatible chat server with a tiny model, fed
 * hostile requests (huge headers and bodies, endless chunked bodies, deep, binary and non-UTF-8
 * JSON, prototype-polluting and oversized fields, forged keys by the thousand, odd methods).
 * Every answer must come within a bound, be a 4xx with an OpenAI-shaped JSON error (or Node's own
 * 4xx for requests it will not parse), never a 500, never a stack trace, never the request's
 * text; and the server must keep serving afterwards.
 */
import * as path from 'node:path';
import { createDefaultModel } from '../../shared/training/model/default-model';
import { startServing, type RunningServer } from '../../serving/start';
import { tempDir } from '../helpers';
import { hostileHttp } from './hostile-http';

const CANARY = 'zzCANARYzz';
const KEY = 'adversarial-key-0123456789';
const BOUND_MS = 5_000;

describe('serving API under hostile requests', () => {
  let t: ReturnType<typeof tempDir>;
  let running: RunningServer;
  let port: number;

  beforeAll(async () => {
    t = tempDir();
    const dir = path.join(t.dir, 'tiny');
    await createDefaultModel(dir, 'tiny', 3);
    running = await startServing({
      model: { version: 'tiny', dir },
      apiKeys: [KEY],
      crisisModel: 'rules',
      personModel: 'rules',
      log: () => undefined,
    });
    port = running.port;
  }, 120_000);
  afterAll(async () => {
    await running?.close(5_000);
    t?.cleanup();
  });

  const { send, expectRefusal, expectEndlessBodyRefused } = hostileHttp(
    () => ({ host: '127.0.0.1', port }),
    CANARY,
    BOUND_MS,
    (body) => (body as { error: { message: string } }).error.message,
  );

  const auth = { Authorization: `Bearer ${KEY}` };
  const json = (body: string | Buffer) => ({ ...auth, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  const chat = '/v1/chat/completions';
  const valid = { model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 };

  it('refuses oversized headers (431) and bodies over the limit, declared or streamed without end (413)', async () => {
    expectRefusal(await send('GET', '/v1/models', { headers: { ...auth, 'X-Pad': `${CANARY}${'c'.repeat(100_000)}` } }), [431]);
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    expectRefusal(await send('POST', chat, { headers: json(big), body: big }), [413, -1]);
    await expectEndlessBodyRefused(chat, auth);
  });

  it('refuses bodies that are deep, binary, not UTF-8, not JSON or not a chat request, naming what is wrong (400/404)', async () => {
    const cases: [string, Buffer | string, number, RegExp][] = [
      ['deep', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, 400, /not valid JSON|invalid chat completion request/],
      ['deep in a field', `{"model":"tiny","messages":${'['.repeat(5_000)}1${']'.repeat(5_000)}}`, 400, /messages/],
      ['binary', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), 400, /not valid UTF-8|not valid JSON/],
      ['not UTF-8', Buffer.concat([Buffer.from(`{"model":"${CANARY} caf`), Buffer.from([0xe9]), Buffer.from('"}')]), 400, /not valid UTF-8/],
      ['truncated', `{"model":"${CANARY}`, 400, /not valid JSON/],
      ['a model that is not served', JSON.stringify({ ...valid, model: CANARY }), 404, /not served here/],
      ['content of the wrong type', JSON.stringify({ ...valid, messages: [{ role: 'user', content: { text: CANARY } }] }), 400, /messages/],
      ['a role that does not exist', JSON.stringify({ ...valid, messages: [{ role: CANARY, content: 'x' }] }), 400, /messages\.0\.role/],
      ['absurd numbers', JSON.stringify({ ...valid, temperature: 1e308, max_tokens: -1 }), 400, /temperature|max_tokens/],
      [
        'a message over 50,000 characters',
        JSON.stringify({ ...valid, messages: [{ role: 'user', content: `${CANARY}${'a'.repeat(60_000)}` }] }),
        400,
        /longer than 50,000/,
      ],
      ['a prototype-polluting body', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}', 400, /unknown field|model/],
      ['a stop list too long', JSON.stringify({ ...valid, stop: ['a', 'b', 'c', 'd', 'e'] }), 400, /stop/],
    ];
    for (const [what, body, status, error] of cases) {
      const a = await send('POST', chat, { headers: json(body), body });
      expect({ what, status: a.status }).toEqual({ what, status });
      expectRefusal(a, [status], error);
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('refuses thousands of forged and malformed keys (401) quickly', async () => {
    const started = Date.now();
    const forged = [`${KEY}x`, KEY.slice(0, -1), `${CANARY}${'k'.repeat(600)}`, 'Bearer', '', '\u00e9\u00e9\u00e9', `${KEY} ${KEY}`];
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => send('GET', '/v1/models', { headers: { Authorization: `Bearer ${forged[i % forged.length]}` } })),
    );
    for (const a of answers.slice(0, 20)) expectRefusal(a, [401, 400]);
    expect(answers.every((a) => a.status === 401 || a.status === 400)).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('answers odd methods and paths with 404/405 and keeps serving', async () => {
    expectRefusal(await send('DELETE', chat, { headers: auth }), [405]);
    expectRefusal(await send('PUT', '/v1/models', { headers: auth }), [405]);
    expectRefusal(await send('GET', `/v1/${CANARY}/../../etc/passwd`, { headers: auth }), [404]);
    expectRefusal(await send('GET', `/%E0%A4%A`, { headers: auth }), [404, 400]);
    const ok = await send('POST', chat, { headers: json(JSON.stringify(valid)), body: JSON.stringify(valid) });
    expect(ok.status).toBe(200);
    expect((await send('GET', '/healthz')).status).toBe(200);
  });
});
