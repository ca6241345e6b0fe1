import { Option, type Command } from 'commander';
import { artifactStoreFromEnv } from '../shared/artifacts';
import type { Message } from '../shared/contracts';
import { generateConversation } from '../shared/data';
import { modelFolder } from '../shared/evaluation/evaluate-model';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { resolveBaseModel } from '../shared/training/model/base-model';
import { startServing, type RunningServer } from '../serving/start';
import { intOption } from './options';

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number);
};
const r2 = (x: number) => Math.round(x * 100) / 100;

/** Conversations up to a user turn, from the synthetic generator (a tenth in crisis, some with PII). */
function prompts(n: number, seed = 99): Message[][] {
  const out: Message[][] = [];
  for (let i = 0; out.length < n; i++) {
    const messages = generateConversation(i, { seed, crisisShare: 0.1, piiShare: 0.15 }).messages;
    const lastUser = messages.map((m) => m.role).lastIndexOf('user');
    if (lastUser >= 0) out.push(messages.slice(0, lastUser + 1));
  }
  return out;
}

interface Outcome {
  status: number;
  ms: number;
  completionTokens: number;
  guardrailMs: number;
}

async function chat(running: RunningServer, model: string, messages: Message[], body: Record<string, unknown>): Promise<Outcome> {
  const started = process.hrtime.bigint();
  const res = await fetch(`${running.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages, ...body }),
  });
  const json = (await res.json()) as { usage?: { completion_tokens: number }; pixel?: { guardrailMs?: number } };
  return {
    status: res.status,
    ms: Number(process.hrtime.bigint() - started) / 1e6,
    completionTokens: json.usage?.completion_tokens ?? 0,
    guardrailMs: json.pixel?.guardrailMs ?? 0,
  };
}

export function registerBenchServeCommand(bench: Command): void {
  bench
    .command('serve')
    .description(
      'The serving API on loopback with the promoted model (else the base model): guardrail overhead per request (guardrails on vs off on the same server), tokens/s at concurrency 1, 8 and 32, and overload; prints JSON',
    )
    .option('--pairs <n>', 'requests measured with and without guardrails', intOption('--pairs', 4, 10_000), 60)
    .option('--max-tokens <n>', 'new tokens per throughput request', intOption('--max-tokens', 1, 512), 48)
    .option('--max-batch <n>', "the server's batch", intOption('--max-batch', 1, 256), 8)
    .option('--max-queue <n>', "the server's queue", intOption('--max-queue', 0, 10_000), 32)
    .addOption(
      new Option('--prefill <precision>', "the server's prompt prefills (as `pixel serve --prefill`)").choices(['int8', 'float32']).default('int8'),
    )
    .action(async (opts: { pairs: number; maxTokens: number; maxBatch: number; maxQueue: number; prefill: 'int8' | 'float32' }) => {
      const entry = await new ModelRegistry(artifactStoreFromEnv()).current().catch(() => null);
      const model = entry
        ? { version: entry.version, dir: await modelFolder(artifactStoreFromEnv(), entry.modelUri, 'the promoted model'), source: 'promoted' }
        : { version: 'base', dir: await resolveBaseModel(undefined), source: 'base' };
      const running = await startServing({
        model,
        maxBatch: opts.maxBatch,
        maxQueue: opts.maxQueue,
        maxTokens: 512,
        prefill: opts.prefill,
        log: () => undefined,
      });
      try {
        const convs = prompts(Math.max(opts.pairs, 64));
        // Warm up: the first requests load caches and JIT-compile.
        for (const m of convs.slice(0, 4)) await chat(running, model.version, m, { max_tokens: 4, temperature: 0 });

        // Overhead: each request with guardrails on and off on the same server, back to back (the
        // order alternates), greedy so both generate the same tokens; a first request (guardrails
        // off, one token) puts the prompt in the prefix cache so that neither of the pair pays its prefill.
        const measure = async (requests: Message[][]) => {
          const deltas: number[] = [];
          const inServer: number[] = [];
          for (const [i, m] of requests.entries()) {
            const one = async (on: boolean) => {
              running.server.guardrailsEnabled = on;
              return chat(running, model.version, m, { max_tokens: 8, temperature: 0, seed: 1 });
            };
            running.server.guardrailsEnabled = false;
            await chat(running, model.version, m, { max_tokens: 1, temperature: 0 });
            const first = await one(i % 2 === 0);
            const second = await one(i % 2 !== 0);
            const [on, off] = i % 2 === 0 ? [first, second] : [second, first];
            deltas.push(on.ms - off.ms);
            inServer.push(on.guardrailMs);
          }
          running.server.guardrailsEnabled = true;
          return { deltas, inServer };
        };
        // Chat sessions as clients send them: each request carries the conversation so far, one
        // user turn more than the last (earlier turns' embeddings are cached by text).
        const sessions: Message[][] = [];
        for (const c of convs) {
          for (let k = 0; k < c.length && sessions.length < opts.pairs; k++) if (c[k]?.role === 'user') sessions.push(c.slice(0, k + 1));
          if (sessions.length >= opts.pairs) break;
        }
        const session = await measure(sessions);
        // Fresh conversations: every user turn is new to the server (the worst case for the crisis screen).
        const fresh = await measure(prompts(opts.pairs, 7).slice(0, opts.pairs));
        const deltas = session.deltas;
        const inServer = session.inServer;

        // Throughput at fixed concurrency: `c` clients, each sending requests one after another.
        // Every level sends the same conversations (concurrency 1 and 8 the same 24), each marked
        // as its level's in its first user turn, so that no level finds another's prompts in the
        // prefix cache: each pays the same prefill (the system prompt is shared by all).
        const tokensPerSecond: Record<string, number> = {};
        const throughputErrors: Record<string, number> = {};
        for (const c of [1, 8, 32]) {
          const perClient = c === 1 ? 24 : c === 8 ? 3 : 2;
          const first = (m: Message[]) => m.findIndex((x) => x.role === 'user');
          const marked = convs.map((m) => m.map((x, i) => (i === first(m) ? { ...x, content: `(${c}) ${x.content}` } : x)));
          let next = 0;
          let tokens = 0;
          let errors = 0;
          const started = process.hrtime.bigint();
          await Promise.all(
            Array.from({ length: c }, async () => {
              for (let k = 0; k < perClient; k++) {
                const m = marked[next++ % marked.length] as Message[];
                const o = await chat(running, model.version, m, { max_tokens: opts.maxTokens, temperature: 0.7, seed: next });
                if (o.status === 200) tokens += o.completionTokens;
                else errors += 1;
              }
            }),
          );
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          tokensPerSecond[`c${c}`] = r2(tokens / seconds);
          throughputErrors[`c${c}`] = errors;
        }

        // Overload: twice what the server holds (batch + queue) at once.
        const burst = 2 * (opts.maxBatch + opts.maxQueue);
        const outcomes = await Promise.all(
          Array.from({ length: burst }, (_, i) =>
            chat(running, model.version, convs[i % convs.length] as Message[], { max_tokens: 8, temperature: 0 }),
          ),
        );
        const requests = 4 + 6 * opts.pairs + 24 + 8 * 3 + 32 * 2 + burst;
        console.log(
          JSON.stringify({
            benchmark: 'serve',
            model: { version: model.version, source: model.source },
            guardrailOverheadMs: {
              p50: r2(quantile(inServer, 0.5)),
              p99: r2(quantile(inServer, 0.99)),
              unit: 'chat sessions (each request one user turn more): wall time a request spent in the guardrails (crisis screen on the user turns, output check, PII redaction), measured in the server',
            },
            latencyDeltaMs: {
              p50: r2(quantile(deltas, 0.5)),
              p99: r2(quantile(deltas, 0.99)),
              unit: 'chat sessions: request latency with guardrails on minus off, same server and request, back to back (greedy, 8 new tokens); includes noise',
            },
            freshConversations: {
              guardrailOverheadMs: { p50: r2(quantile(fresh.inServer, 0.5)), p99: r2(quantile(fresh.inServer, 0.99)) },
              latencyDeltaMs: { p50: r2(quantile(fresh.deltas, 0.5)), p99: r2(quantile(fresh.deltas, 0.99)) },
              unit: 'whole synthetic conversations new to the server (every user turn embedded at once)',
            },
            pairs: opts.pairs,
            tokensPerSecond: {
              ...tokensPerSecond,
              c8OverC1: r2((tokensPerSecond.c8 ?? 0) / Math.max(1e-9, tokensPerSecond.c1 ?? 0)),
              maxTokens: opts.maxTokens,
            },
            requests,
            errors5xx: outcomes.filter((o) => o.status >= 500).length + Object.values(throughputErrors).reduce((a, b) => a + b, 0),
            rejected429: outcomes.filter((o) => o.status === 429).length,
            overload: { concurrent: burst, ok: outcomes.filter((o) => o.status === 200).length },
            server: { maxBatch: opts.maxBatch, maxQueue: opts.maxQueue, prefill: opts.prefill },
            targets: { guardrailOverheadMs: { p50: 8, p99: 20 }, c8OverC1: 3, errors5xx: 0 },
          }),
        );
      } finally {
        await running.close(10_000);
      }
    });
}
