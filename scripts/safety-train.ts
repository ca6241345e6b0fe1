import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { prf } from '../shared/safety/evaluate';
import { assessCrisis } from '../shared/safety/crisis/assess';
import { cssrsLevel, evaluateCssrs, parsePythonStringList } from '../shared/safety/crisis/cssrs-eval';
import { devFile, readCounselChat, readCssrs, type CssrsUser } from '../shared/safety/dev-sets/load';
import { DEV_SPLIT_SEED } from '../shared/safety/dev-sets/split';
import { encoderDir, MINILM, openEncoder } from '../shared/safety/learned/encoder';
import {
  crisisFeatures,
  expectedCalibrationError,
  predict,
  thresholdForRecall,
  trainLogistic,
  type CrisisHeadFile,
} from '../shared/safety/learned/crisis-head';
import { writeFileReplacing } from '../shared/util/files';
import { sha256Hex } from '../shared/util/hash';
import { intOption } from './options';

export const AT_RISK = new Set(['Ideation', 'Behavior', 'Attempt']);
export const URGENT = new Set(['Behavior', 'Attempt']);

async function writeAtomic(file: string, text: string | Buffer): Promise<void> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileReplacing(file, 'output', text);
}

/**
 * counsel-chat topics whose questions may come from people at risk: left out of the negatives
 * (their questions carry no risk label). Every other question is a negative: therapy-site text
 * from people not at suicidal risk, the everyday language the head must not flag.
 */
export const RISK_TOPICS = new Set([
  'depression',
  'self-harm',
  'trauma',
  'grief-and-loss',
  'substance-abuse',
  'addiction',
  'eating-disorders',
  'domestic-violence',
]);

/** counsel-chat questions (one per question id) as single-text units, with their part of the split and whether their topic is a risk topic. */
export function counselChatUnits(): { id: string; text: string; split: 'tuning' | 'report'; riskTopic: boolean }[] {
  const seen = new Map<string, { id: string; text: string; split: 'tuning' | 'report'; riskTopic: boolean }>();
  for (const r of readCounselChat(devFile('counsel-chat'))) {
    if (seen.has(r.questionId)) continue;
    seen.set(r.questionId, {
      id: r.questionId,
      text: `${r.questionTitle}\n${r.questionText}`.trim(),
      split: r.split,
      riskTopic: RISK_TOPICS.has(r.topic),
    });
  }
  return [...seen.values()];
}

/** Post embeddings of every C-SSRS user, cached by the encoder's and the file's sha256. */
export async function embedUsers(users: readonly CssrsUser[], cacheDir: string): Promise<Float32Array[][]> {
  return embedGroups(
    'cssrs',
    users.map((u) => u.posts ?? [u.raw]),
    cacheDir,
  );
}

/** Embeddings of groups of texts, cached by the encoder's sha256 and the texts. */
export async function embedGroups(name: string, posts: readonly (readonly string[])[], cacheDir: string): Promise<Float32Array[][]> {
  const flat = posts.flat();
  const key = sha256Hex(`${MINILM.onnxSha256}\0${flat.join('\0')}`).slice(0, 16);
  const cache = path.join(cacheDir, `${name}-${MINILM.folder}-${key}.f32`);
  let vectors: Float32Array;
  if (existsSync(cache)) {
    const bytes = readFileSync(cache);
    vectors = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  } else {
    const encoder = await openEncoder(encoderDir(), MINILM);
    const started = Date.now();
    console.error(`[safety train-crisis] embedding ${flat.length} ${name} texts with ${MINILM.name} (cached afterwards in ${cache})`);
    const embedded = await encoder.embed(flat);
    await encoder.dispose();
    console.error(`[safety train-crisis] ${((Date.now() - started) / flat.length).toFixed(1)} ms per post`);
    vectors = new Float32Array(flat.length * MINILM.dim);
    embedded.forEach((v, i) => vectors.set(v, i * MINILM.dim));
    await writeAtomic(cache, Buffer.from(vectors.buffer));
  }
  let k = 0;
  return posts.map((p) => p.map(() => vectors.subarray(MINILM.dim * k, MINILM.dim * ++k)));
}

const round = (x: number): number => Math.round(x * 10_000) / 10_000;
function scores(probabilities: readonly number[], labels: readonly number[], threshold: number) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  probabilities.forEach((p, i) => {
    if (p >= threshold && labels[i] === 1) tp++;
    else if (p >= threshold) fp++;
    else if (labels[i] === 1) fn++;
  });
  return { ...prf(tp, fp, fn), ece: expectedCalibrationError(probabilities, labels) };
}

export function registerSafetyTrainCommand(safety: Command): void {
  safety
    .command('train-crisis')
    .description(
      'Train the learned crisis head (MiniLM embeddings + rule level) on the tuning part of the C-SSRS dev set; grouped cross-validation picks the thresholds, the report part is scored once; writes the head and its model card',
    )
    .option('--out <file>', 'where to write the head (JSON)', 'shared/safety/learned/models/crisis-head-minilm.json')
    .option('--folds <n>', 'cross-validation folds on the tuning part', intOption('--folds', 2), 5)
    .option('--recall <x>', 'recall the thresholds must reach out of fold (a missed person at risk costs more than a false alarm)', '0.9')
    .option('--l2 <x>', 'L2 penalty', '0.01')
    .option('--cache <dir>', 'where post embeddings are cached', '.pixel/cache/safety')
    .action(async (opts: { out: string; folds: number; recall: string; l2: string; cache: string }) => {
      const recall = Number(opts.recall);
      const l2 = Number(opts.l2);
      if (!(recall > 0 && recall <= 1)) throw new Error('--recall must be in (0, 1]');
      if (!(l2 >= 0 && l2 < 10)) throw new Error('--l2 must be in [0, 10)');
      const file = devFile('cssrs');
      const users = readCssrs(file, parsePythonStringList);
      const embeddings = await embedUsers(users, opts.cache);
      const examples = users.map((u, i) => {
        let level = 0;
        for (const post of u.posts ?? [u.raw]) level = Math.max(level, cssrsLevel(assessCrisis(post)));
        return {
          split: u.split,
          x: crisisFeatures(embeddings[i] as Float32Array[], level, MINILM.dim),
          any: AT_RISK.has(u.label) ? 1 : 0,
          urgent: URGENT.has(u.label) ? 1 : 0,
        };
      });
      // Negatives from everyday therapy-site text (counsel-chat questions outside the risk topics).
      const questions = counselChatUnits();
      const questionEmbeddings = await embedGroups(
        'counsel-chat',
        questions.map((q) => [q.text]),
        opts.cache,
      );
      const questionExamples = questions.map((q, i) => ({
        split: q.split,
        riskTopic: q.riskTopic,
        x: crisisFeatures(questionEmbeddings[i] as Float32Array[], cssrsLevel(assessCrisis(q.text)), MINILM.dim),
        any: 0,
        urgent: 0,
      }));
      const negatives = questionExamples.filter((q) => !q.riskTopic);
      const tuning = [...examples.filter((e) => e.split === 'tuning'), ...negatives.filter((e) => e.split === 'tuning')];
      const report = examples.filter((e) => e.split === 'report');

      const heads = {} as CrisisHeadFile['heads'];
      const metrics: Record<string, unknown> = {};
      for (const key of ['any', 'urgent'] as const) {
        // Out-of-fold probabilities on the tuning part (each user is its own group).
        const oof = new Array<number>(tuning.length);
        for (let fold = 0; fold < opts.folds; fold++) {
          const train = tuning.filter((_, i) => i % opts.folds !== fold);
          const head = trainLogistic(
            train.map((e) => e.x),
            train.map((e) => e[key]),
            { l2 },
          );
          tuning.forEach((e, i) => {
            if (i % opts.folds === fold) oof[i] = predict(head, e.x);
          });
        }
        const labels = tuning.map((e) => e[key]);
        const threshold = thresholdForRecall(oof, labels, recall);
        const final = trainLogistic(
          tuning.map((e) => e.x),
          labels,
          { l2 },
        );
        const reportProbabilities = report.map((e) => predict(final, e.x));
        heads[key === 'any' ? 'anyRisk' : 'urgent'] = { weights: final.weights.map(round), bias: round(final.bias), threshold };
        metrics[key === 'any' ? 'anyRisk' : 'urgent'] = {
          threshold,
          tuningOutOfFold: scores(oof, labels, threshold),
          report: scores(
            reportProbabilities,
            report.map((e) => e[key]),
            threshold,
          ),
        };
        // False alarms on everyday text: the share of counsel-chat report-part questions the head flags.
        const flaggedShare = (xs: typeof questionExamples) =>
          round(xs.filter((e) => predict(final, e.x) >= threshold).length / Math.max(1, xs.length));
        const reportQuestions = questionExamples.filter((e) => e.split === 'report');
        (metrics[key === 'any' ? 'anyRisk' : 'urgent'] as Record<string, unknown>).counselChatReportFlagged = {
          otherTopics: flaggedShare(reportQuestions.filter((e) => !e.riskTopic)),
          riskTopics: flaggedShare(reportQuestions.filter((e) => e.riskTopic)),
        };
      }
      const rules = evaluateCssrs(file, 1, 'report');
      metrics.rulesOnReport = { anyRisk: { precision: rules.precision, recall: rules.recall, f1: rules.f1 }, urgent: rules.urgent };
      const head: CrisisHeadFile = {
        format: 'pixel-crisis-head/1',
        encoder: { name: MINILM.name, onnxSha256: MINILM.onnxSha256, dim: MINILM.dim },
        heads,
        training: {
          data: 'C-SSRS Reddit 500 users (Gaur et al. 2019, CC BY 4.0) and, as negatives, counsel-chat questions outside the risk topics (nbertagnolli/counsel-chat, MIT), tuning parts only',
          split: {
            seed: DEV_SPLIT_SEED,
            tuningUnits: tuning.length,
            tuningNegativesFromCounselChat: negatives.filter((e) => e.split === 'tuning').length,
            reportUsers: report.length,
          },
          labels: 'anyRisk: Ideation, Behavior, Attempt; urgent: Behavior, Attempt (per user)',
          features: 'mean and max of post embeddings (MiniLM, 256 tokens), worst rule level one-hot, log(1 + posts)',
          folds: opts.folds,
          thresholdRule: `highest threshold with out-of-fold recall >= ${recall}`,
          l2,
        },
        metrics,
      };
      const text = `${JSON.stringify(head)}\n`;
      await writeAtomic(opts.out, text);
      const sha256 = sha256Hex(text);
      await writeAtomic(path.join(path.dirname(opts.out), 'MODEL_CARD.md'), modelCard(head, sha256));
      console.log(JSON.stringify({ out: opts.out, sha256, metrics }));
    });
}

function modelCard(head: CrisisHeadFile, sha256: string): string {
  const m = head.metrics as Record<string, { threshold: number; tuningOutOfFold: Record<string, number>; report: Record<string, number> }>;
  const row = (name: string, k: 'anyRisk' | 'urgent') => {
    const x = m[k] as { threshold: number; tuningOutOfFold: Record<string, number>; report: Record<string, number> };
    return `| ${name} | ${x.threshold} | ${x.tuningOutOfFold.precision} / ${x.tuningOutOfFold.recall} / ${x.tuningOutOfFold.f1} | ${x.report.precision} / ${x.report.recall} / ${x.report.f1} | ${x.report.ece} |`;
  };
  const rules = head.metrics.rulesOnReport as { anyRisk: Record<string, number>; urgent: Record<string, number> };
  return `# Crisis head (MiniLM + rules), pixel-crisis-head/1

sha256 of \`crisis-head-minilm.json\`: \`${sha256}\`. Written by \`pixel safety train-crisis\`; do not edit by hand.

- Encoder: ${head.encoder.name} (${MINILM.source}; ${MINILM.license}), ONNX sha256 \`${head.encoder.onnxSha256}\`.
- Data: ${String(head.training.data)}; split seed \`${DEV_SPLIT_SEED}\`. Labels are per user, not per post.
- Features: ${String(head.training.features)}.
- Model: two L2-regularised logistic heads (${String(head.training.labels)}), full-batch gradient descent from zero (deterministic).
- Thresholds: ${String(head.training.thresholdRule)} (${String(head.training.folds)}-fold cross-validation on the tuning part): a missed person at risk costs more than a false alarm, so precision is traded for recall.

| head | threshold | tuning, out of fold: P / R / F1 | report part: P / R / F1 | report ECE |
| --- | --- | --- | --- | --- |
${row('any risk', 'anyRisk')}
${row('urgent (intent, plan, behaviour)', 'urgent')}

The rules alone on the same report part: any risk P ${rules.anyRisk.precision} / R ${rules.anyRisk.recall} / F1 ${rules.anyRisk.f1}; urgent P ${rules.urgent.precision} / R ${rules.urgent.recall} / F1 ${rules.urgent.f1}.

Limitations: 243 training users with one label each, from one forum (Reddit, 2005-2016, English);
"Indicator" users (distress without suicidal content) count as not at risk; posts are cut at 256
tokens; probabilities come from an unweighted logistic model and are calibrated only as far as the
ECE column says. Not a clinical instrument: it decides which conversations get a closer look.
`;
}
