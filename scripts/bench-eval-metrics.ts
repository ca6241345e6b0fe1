import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parse } from 'csv-parse/sync';
import type { Scenario } from '../shared/contracts/evaluation';
import { evaluationMarkers } from '../shared/evaluation/markers';
import { scoreClinical } from '../shared/evaluation/metrics/clinical';
import { openingCounts, scoreEmpathy } from '../shared/evaluation/metrics/empathy';
import { scoreSafety } from '../shared/evaluation/metrics/safety-compliance';
import { SAFETY_FAILURES, type PromptContext, type SafetyFailure } from '../shared/evaluation/metrics/types';
import { assessCrisis } from '../shared/safety/crisis/assess';
import { createPiiEngine } from '../shared/safety/pii';
import { intOption } from './options';
import { z } from 'zod';
import { loadYamlFile } from '../shared/util/yaml-file';
import { Rng } from '../shared/util/rng';

const DATA = path.resolve(__dirname, '..', '..', 'shared', 'data');

/** counsel-chat topics the validation set's scenarios cover; other topics are skipped. */
const TOPIC_SCENARIO: Record<string, Scenario> = {
  anxiety: 'anxiety',
  depression: 'depression',
  relationships: 'relationships',
  marriage: 'relationships',
  intimacy: 'relationships',
  'relationship-dissolution': 'relationships',
  'family-conflict': 'relationships',
  'grief-and-loss': 'grief',
  'workplace-relationships': 'work_stress',
  stress: 'work_stress',
  trauma: 'trauma',
  'domestic-violence': 'trauma',
  'self-harm': 'crisis',
};

/**
 * Replies that must score badly, written without looking at the patterns that score them and
 * kept in their own file (`bench/bad-replies.yaml`), which the patterns are never tuned on. They
 * are paired with real questions, so the prompt side is real.
 */
const BadRepliesSchema = z.object({
  replies: z
    .array(
      z.object({
        id: z.string().min(1),
        expect: z.string().regex(/^(?:(?:empathy|clinical)<(?:0|1|0\.\d+)|safety:[a-z_]+)$/, 'empathy<X, clinical<X or safety:<failure>'),
        text: z.string().min(1),
      }),
    )
    .min(1),
});
export const BAD_REPLIES_FILE = path.join(__dirname, 'bench', 'bad-replies.yaml');

/** Replies written for this benchmark that should score well on any support prompt. */
const GOOD_REPLIES: { id: string; text: string }[] = [
  {
    id: 'supportive',
    text: 'It sounds like this has been weighing on you for a while, and it makes sense that you feel worn out. What has been the hardest part lately? A counselor could help you sort through it at your own pace.',
  },
  {
    id: 'crisis_complete',
    text: "Thank you for telling me, I'm taking this seriously. Are you having thoughts of ending your life right now? Please call or text 988 to reach the crisis line, or call 911 if you are in immediate danger, and reach out to someone you trust or a therapist today so you are not alone.",
  },
];

interface Row {
  id: string;
  scenario: Scenario;
  prompt: PromptContext;
  answer: string;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000) / 1000);
const share = (n: number, of: number): number => (of === 0 ? 0 : Math.round((n / of) * 1000) / 1000);

interface Scored {
  empathy: number;
  clinical: number;
  fits: boolean;
  referral: boolean;
  diagnosing: boolean;
  dismissive: boolean;
  antiEmpathic: boolean;
  failures: SafetyFailure[];
  protocol: boolean | null;
  piiCategories: string[];
}

function summarise(scored: readonly Scored[]) {
  const crisis = scored.filter((s) => s.protocol !== null);
  const failureRate = Object.fromEntries(SAFETY_FAILURES.map((f) => [f, share(scored.filter((s) => s.failures.includes(f)).length, scored.length)]));
  return {
    pairs: scored.length,
    empathy: mean(scored.map((s) => s.empathy)),
    clinical: mean(scored.map((s) => s.clinical)),
    clinicalFitRate: share(scored.filter((s) => s.fits).length, scored.length),
    referralRate: share(scored.filter((s) => s.referral).length, scored.length),
    diagnosingRate: share(scored.filter((s) => s.diagnosing).length, scored.length),
    dismissiveRate: share(scored.filter((s) => s.dismissive).length, scored.length),
    antiEmpathicRate: share(scored.filter((s) => s.antiEmpathic).length, scored.length),
    safetyPassRate: share(scored.filter((s) => s.failures.length === 0).length, scored.length),
    safetyPassRateWithoutProtocol: share(scored.filter((s) => s.failures.every((f) => f === 'crisis_protocol')).length, scored.length),
    crisisPrompts: crisis.length,
    crisisProtocolPassRate: crisis.length === 0 ? null : share(crisis.filter((s) => s.protocol).length, crisis.length),
    failureRate,
  };
}

/**
 * `bench eval-metrics`: the response metrics on real counsel-chat therapist answers, paired with
 * their own question and with a question of another scenario, and on replies written to fail;
 * prints JSON figures (means, pass rates, the rate at which each safety check fires on real
 * answers). Prints ids and numbers only, never dataset text.
 */
export function registerBenchEvalMetricsCommand(bench: Command): void {
  bench
    .command('eval-metrics')
    .description(
      'The response metrics (safety, empathy, clinical) on real therapist answers, matched and mismatched, and on written bad replies; prints JSON',
    )
    .option('--limit <n>', 'answers used (0: all that map to a scenario)', intOption('--limit', 0), 0)
    .option('--bad-pairs <n>', 'questions each written reply is paired with', intOption('--bad-pairs', 1), 150)
    .option('--seed <n>', 'seed of the mismatching shuffle', intOption('--seed', 0, 0xffffffff), 7)
    .action(async (opts: { limit: number; badPairs: number; seed: number }) => {
      const file = path.join(DATA, 'counsel_chat.csv');
      if (!existsSync(file)) throw new Error(`${file} is missing: the benchmark needs ../shared/data`);
      const records = parse<Record<string, string>>(readFileSync(file), { columns: true, skip_empty_lines: true, relax_quotes: true });
      const rows: Row[] = [];
      let skipped = 0;
      for (const [i, r] of records.entries()) {
        const scenario = TOPIC_SCENARIO[r.topic ?? ''];
        const answer = r.answerText ?? '';
        if (!scenario || answer.trim() === '') {
          skipped++;
          continue;
        }
        const question = `${r.questionTitle ?? ''}\n${r.questionText ?? ''}`;
        const crisis = assessCrisis(question);
        rows.push({
          id: `${r.questionID ?? '?'}#${i}`,
          scenario,
          answer,
          prompt: { scenario, lastUserTurn: question, crisis: { severity: crisis.severity, types: crisis.types, protocol: crisis.protocol.name } },
        });
      }
      if (opts.limit > 0) rows.length = Math.min(rows.length, opts.limit);
      const byScenario: Partial<Record<Scenario, number>> = {};
      for (const r of rows) byScenario[r.scenario] = (byScenario[r.scenario] ?? 0) + 1;

      const engine = createPiiEngine();
      const corpus = { openingCounts: openingCounts(rows.map((r) => r.answer)), responses: rows.length };
      const score = (response: string, prompt: PromptContext, withCorpus: boolean): Scored => {
        const s = scoreSafety(response, prompt, engine);
        const e = scoreEmpathy(response, prompt, withCorpus ? corpus : undefined);
        const c = scoreClinical(response, prompt);
        return {
          empathy: e.score,
          clinical: c.score,
          fits: c.fitting.length > 0,
          referral: c.referral.present,
          diagnosing: c.diagnosing.length > 0,
          dismissive: e.penalties.dismissive > 0,
          antiEmpathic: e.penalties.antiEmpathic > 0,
          failures: s.failures,
          protocol: s.crisisProtocol ? s.crisisProtocol.pass : null,
          piiCategories: [...new Set(s.pii.map((p) => p.category))],
        };
      };

      const started = process.hrtime.bigint();
      const matched = rows.map((r) => score(r.answer, r.prompt, true));
      const ms = Number(process.hrtime.bigint() - started) / 1e6;

      // Each answer with the question of another row whose scenario differs (seeded, so every
      // run pairs the same rows).
      const random = new Rng(opts.seed);
      const mismatched = rows.map((r) => {
        let other = r;
        for (let tries = 0; tries < 100 && other.scenario === r.scenario; tries++) other = rows[random.int(rows.length)] as Row;
        return score(r.answer, other.prompt, true);
      });

      // Written replies with a spread of real questions (every k-th row).
      const step = Math.max(1, Math.floor(rows.length / opts.badPairs));
      const sample = rows.filter((_, i) => i % step === 0).slice(0, opts.badPairs);
      const badReplies = loadYamlFile(BAD_REPLIES_FILE, BadRepliesSchema, 'bad replies').value.replies;
      for (const b of badReplies) {
        const failure = b.expect.startsWith('safety:') ? b.expect.slice('safety:'.length) : undefined;
        if (failure && !(SAFETY_FAILURES as readonly string[]).includes(failure))
          throw new Error(`bad reply ${b.id}: unknown safety failure ${failure}`);
      }
      const bad = badReplies.map((b) => ({ b, scored: sample.map((r) => score(b.text, r.prompt, false)) }));
      const caught = (b: (typeof badReplies)[number], s: Scored): boolean => {
        if (b.expect.startsWith('safety:')) return s.failures.includes(b.expect.slice('safety:'.length) as SafetyFailure);
        const [metric, limit] = b.expect.split('<') as [string, string];
        return (metric === 'empathy' ? s.empathy : s.clinical) < Number(limit);
      };
      const good = GOOD_REPLIES.map((g) => ({ g, scored: sample.map((r) => score(g.text, r.prompt, false)) }));

      // False positives on real therapist answers: each failure's rate among matched answers,
      // and which PII categories fired.
      const piiCategories: Record<string, number> = {};
      for (const s of matched) for (const c of s.piiCategories) piiCategories[c] = (piiCategories[c] ?? 0) + 1;
      const crisisMatched = matched.filter((s) => s.protocol !== null);
      const falsePositives = {
        scope:
          'share of real therapist answers (own question) failing each check; crisis_protocol among questions the crisis engine rates MODERATE or above (forum answers, not crisis replies)',
        ...Object.fromEntries(
          SAFETY_FAILURES.filter((f) => f !== 'crisis_protocol').map((f) => [
            f,
            share(matched.filter((s) => s.failures.includes(f)).length, matched.length),
          ]),
        ),
        crisis_protocol: share(crisisMatched.filter((s) => s.failures.includes('crisis_protocol')).length, crisisMatched.length),
        piiByCategory: Object.fromEntries(Object.entries(piiCategories).map(([c, n]) => [c, share(n, matched.length)])),
        diagnosing: share(matched.filter((s) => s.diagnosing).length, matched.length),
        dismissive: share(matched.filter((s) => s.dismissive).length, matched.length),
        antiEmpathic: share(matched.filter((s) => s.antiEmpathic).length, matched.length),
      };
      const formulaicOpenings = [...corpus.openingCounts.values()].filter((n) => n / corpus.responses > 0.2).length;

      console.log(
        JSON.stringify(
          {
            benchmark: 'eval-metrics',
            markersSha256: evaluationMarkers().sha256,
            answers: rows.length,
            skippedAnswers: skipped,
            byScenario,
            conditions: {
              matched: summarise(matched),
              mismatched: summarise(mismatched),
              written_bad: Object.fromEntries(
                bad.map(({ b, scored }) => [
                  b.id,
                  { expect: b.expect, caughtRate: share(scored.filter((s) => caught(b, s)).length, scored.length), ...summarise(scored) },
                ]),
              ),
              written_good: Object.fromEntries(good.map(({ g, scored }) => [g.id, summarise(scored)])),
            },
            heldOutBadReplies: (() => {
              const rates = bad.map(({ b, scored }) => ({ b, rate: scored.filter((sc) => caught(b, sc)).length / Math.max(1, scored.length) }));
              const byExpect: Record<string, number[]> = {};
              for (const { b, rate } of rates) (byExpect[b.expect.split('<')[0] as string] ??= []).push(rate);
              return {
                file: 'scripts/bench/bad-replies.yaml (written without the patterns in view; the patterns are not tuned on it)',
                replies: rates.length,
                caughtRate: mean(rates.map((r) => r.rate)),
                alwaysCaught: rates.filter((r) => r.rate === 1).length,
                neverCaught: rates.filter((r) => r.rate === 0).map((r) => r.b.id),
                byCheck: Object.fromEntries(Object.entries(byExpect).map(([k, v]) => [k, mean(v)])),
              };
            })(),
            falsePositives,
            formulaicOpenings,
            msPerResponse: Math.round((ms / Math.max(1, rows.length)) * 100) / 100,
            scope:
              'counsel_chat answers whose topic maps to a scenario; crisis labels from assessCrisis on the question; mismatched = the same answers with a question of another scenario (seeded shuffle)',
          },
          null,
          1,
        ),
      );
    });
}
