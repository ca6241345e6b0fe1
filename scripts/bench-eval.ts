import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { ConversationRecordSchema, SamplingConfigSchema, type Message, type ValidationItem } from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { conversationLosses, generateResponses, openModel } from '../shared/evaluation/generation/engine';
import { scoreResponses } from '../shared/evaluation/score';
import { contextsOf } from '../shared/evaluation/validation-set';
import { createPiiEngine } from '../shared/safety/pii';
import { createDefaultModel } from '../shared/training/model/default-model';
import { intOption } from './options';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export function registerBenchEvalCommand(bench: Command): void {
  bench
    .command('eval')
    .description(
      'Throughput of the evaluation stage on the default model: generation (batched against one prompt at a time), test loss, and scoring; prints JSON',
    )
    .option('--prompts <n>', 'validation prompts', intOption('--prompts', 8, 100_000), 192)
    .option('--runs <n>', 'repeats (medians are printed)', intOption('--runs', 1, 20), 3)
    .action(async (opts: { prompts: number; runs: number }) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'pixel-bench-eval-'));
      try {
        console.error('creating the default model and prompts (not timed) ...');
        await createDefaultModel(path.join(dir, 'model'));
        const model = await openModel(path.join(dir, 'model'));
        const items: ValidationItem[] = [];
        const conversations: { id: string; messages: Message[] }[] = [];
        for (let i = 0; items.length < opts.prompts; i++) {
          const record = ConversationRecordSchema.parse(generateConversation(90_000 + i, { seed: 5, crisisShare: 0.15, piiShare: 0 }));
          conversations.push({ id: record.id, messages: record.messages });
          items.push(...contextsOf(record, 8).candidates.map(({ userTurn: _t, ...item }) => item));
        }
        items.length = opts.prompts;
        const prompts = items.map((i) => ({ id: i.id, messages: i.messages }));
        const sampling = SamplingConfigSchema.parse({});
        const generation = async (batch: number) => {
          const started = process.hrtime.bigint();
          const out = await generateResponses(model, prompts, { ...sampling, batch });
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          return { tokensPerSecond: out.reduce((a, r) => a + r.tokens, 0) / seconds, promptsPerSecond: prompts.length / seconds, responses: out };
        };
        const single: number[] = [];
        const batched: number[] = [];
        let responses = (await generation(sampling.batch)).responses;
        for (let r = 0; r < opts.runs; r++) {
          console.error(`run ${r + 1}/${opts.runs}: generation, one prompt at a time and ${sampling.batch} at a time ...`);
          single.push((await generation(1)).tokensPerSecond);
          const b = await generation(sampling.batch);
          batched.push(b.tokensPerSecond);
          responses = b.responses;
        }
        const lossRates: number[] = [];
        for (let r = 0; r < opts.runs; r++) {
          const started = process.hrtime.bigint();
          await conversationLosses(model, conversations, 8);
          lossRates.push(conversations.length / (Number(process.hrtime.bigint() - started) / 1e9));
        }
        const engine = createPiiEngine();
        const scoreRates: number[] = [];
        for (let r = 0; r < opts.runs; r++) {
          const started = process.hrtime.bigint();
          scoreResponses(items, responses, engine);
          scoreRates.push(items.length / (Number(process.hrtime.bigint() - started) / 1e9));
        }
        await model.session.release();
        console.log(
          JSON.stringify(
            {
              model: 'random-small (3.4M parameters, the random Llama of createDefaultModel), onnxruntime CPU',
              prompts: prompts.length,
              maxNewTokens: sampling.maxNewTokens,
              generation: {
                tokensPerSecondOneAtATime: Math.round(median(single)),
                tokensPerSecondBatched: Math.round(median(batched)),
                batch: sampling.batch,
                batchedSpeedup: Math.round((median(batched) / median(single)) * 100) / 100,
              },
              testLoss: { conversationsPerSecond: Math.round(median(lossRates)) },
              scoring: { responsesPerSecond: Math.round(median(scoreRates)) },
              runs: opts.runs,
            },
            null,
            2,
          ),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
}
