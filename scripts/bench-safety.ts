import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import { PrepareConfigSchema, SafetyPolicySchema } from '../shared/contracts';
import { generateConversation, prepareDataset } from '../shared/data';
import { filterShard } from '../shared/safety/filter';
import { detectBias } from '../shared/safety/bias/bias';
import { evaluateCrowsPairs } from '../shared/safety/bias/fairness';
import { assessCrisis } from '../shared/safety/crisis/assess';
import { evaluateCssrs, parsePythonStringList } from '../shared/safety/crisis/cssrs-eval';
import { prf } from '../shared/safety/evaluate';
import { expectedCalibrationError } from '../shared/safety/learned/crisis-head';
import { CrisisScreen } from '../shared/safety/learned/screen';
import { CSSRS_RANK } from '../shared/contracts/crisis';
import { AT_RISK, URGENT } from './safety-train';
import { createPiiEngine } from '../shared/safety/pii';
import { PersonTagger, personsCombiner, RAMPART, withTaggedPersons, type TaggedPersons } from '../shared/safety/pii/rampart';
import { evaluatePresidio } from '../shared/safety/pii/presidio-eval';
import { devFile, readCounselChat, readCssrs, readPresidio } from '../shared/safety/dev-sets/load';
import { DEV_SPLIT_SEED } from '../shared/safety/dev-sets/split';
import { intOption } from './options';

/** Texts per second and characters per second over `texts`, median of three runs on this thread. */
function throughput(texts: readonly string[], scan: (t: string) => void): { textsPerSecond: number; charsPerSecond: number; meanChars: number } {
  const chars = texts.reduce((n, t) => n + t.length, 0);
  for (const t of texts.slice(0, 500)) scan(t); // warm up
  const seconds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const started = process.hrtime.bigint();
    for (const t of texts) scan(t);
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  const median = seconds.sort((a, b) => a - b)[1] as number;
  return {
    textsPerSecond: Math.round(texts.length / median),
    charsPerSecond: Math.round(chars / median),
    meanChars: Math.round(chars / texts.length),
  };
}

export function registerBenchSafetyCommand(bench: Command): void {
  bench
    .command('safety')
    .description('Accuracy of the safety detectors on public data, and their throughput; prints JSON')
    .option('--texts <n>', 'synthetic texts for the throughput run', intOption('--texts', 1000), 100_000)
    .option('--stage-records <n>', 'synthetic conversations for the whole-stage run (0 skips it)', intOption('--stage-records', 0), 20_000)
    .option(
      '--person-answers <n>',
      'counsel-chat answers (report part) scanned for PERSON findings by rules and tagger (0 skips the tagger)',
      intOption('--person-answers', 0),
      300,
    )
    .action(async (opts: { texts: number; stageRecords: number; personAnswers: number }) => {
      const engine = createPiiEngine();
      // Accuracy on the report part of each dev set's fixed split: nothing was tuned on it.
      const presidio = devFile('presidio');
      const pii = evaluatePresidio(presidio, engine, 'report');
      const piiTuning = evaluatePresidio(presidio, engine, 'tuning');
      // Person names with the learned tagger behind its cascade (the stage's default), against the
      // rules alone; report part. Counsel-chat answers (report part) show over-redaction of real
      // therapy text: PERSON findings per 1,000 answers.
      let personLearned: Record<string, unknown> | undefined;
      if (opts.personAnswers > 0) {
        const tagger = await PersonTagger.open();
        try {
          const sentences = readPresidio(presidio, 'report').map((s) => s.full_text);
          let started = process.hrtime.bigint();
          await tagger.tag(sentences);
          const msPerSentence = Number(process.hrtime.bigint() - started) / 1e6 / sentences.length;
          // The report sentences come from the tagger's cache now; the tuning part is tagged here.
          const tuningSentences = readPresidio(presidio, 'tuning').map((s) => s.full_text);
          const learnedEngine = await withTaggedPersons(engine, tagger, [...sentences, ...tuningSentences]);
          const combined = evaluatePresidio(presidio, learnedEngine, 'report');
          const combinedTuning = evaluatePresidio(presidio, learnedEngine, 'tuning');
          const answers = readCounselChat(devFile('counsel-chat'), 'report')
            .map((a) => a.answerText)
            .filter((t) => t.length > 0)
            .slice(0, opts.personAnswers);
          const before = { ...tagger.stats };
          started = process.hrtime.bigint();
          const answerTags = await tagger.tag(answers);
          const msPerAnswer = Number(process.hrtime.bigint() - started) / 1e6 / Math.max(1, answers.length);
          let rulePersons = 0;
          let learnedPersons = 0;
          answers.forEach((a, i) => {
            const tags = answerTags[i] as TaggedPersons;
            rulePersons += engine.detect(a).filter((f) => f.category === 'PERSON').length;
            learnedPersons += engine.detect(a, personsCombiner(tags)).filter((f) => f.category === 'PERSON').length;
          });
          personLearned = {
            split: 'report',
            rules: pii.byType.PERSON,
            learned: combined.byType.PERSON,
            // Other types move only where a rule name used to win an overlap (an address's street named after a person).
            otherTypesChanged: Object.fromEntries(
              Object.entries(pii.byType)
                .filter(([type, prf]) => type !== 'PERSON' && combined.byType[type]?.f1 !== prf.f1)
                .map(([type, prf]) => [type, { rulesF1: prf.f1, learnedF1: combined.byType[type]?.f1 }]),
            ),
            learnedTuningPart: combinedTuning.byType.PERSON,
            msPerSentence: Math.round(msPerSentence * 100) / 100,
            counselChat: {
              answers: answers.length,
              personFindingsPer1000Answers: {
                rules: Math.round((rulePersons / answers.length) * 1000),
                learned: Math.round((learnedPersons / answers.length) * 1000),
              },
              sentences: tagger.stats.sentences - before.sentences,
              sentencesTagged: tagger.stats.candidates - before.candidates,
              msPerAnswer: Math.round(msPerAnswer * 10) / 10,
              note: 'findings, not errors: therapists sign with their own names and cite authors; see the closing note for a sample judged by hand',
            },
            model: `${RAMPART.name}, behind the sentence cascade`,
          };
        } finally {
          await tagger.dispose();
        }
      }
      const cssrs = devFile('cssrs');
      const flagged = evaluateCssrs(cssrs, 1, 'report');
      const suicidalOnly = evaluateCssrs(cssrs, 2, 'report');
      const flaggedTuning = evaluateCssrs(cssrs, 1, 'tuning');
      const bias = {
        byType: evaluateCrowsPairs(devFile('crows-pairs')),
        unit: 'share of CrowS-Pairs sentences flagged, more- vs less-stereotyping',
        split: 'all',
      };
      const crisis = {
        split: 'report',
        precision: flagged.precision,
        recall: flagged.recall,
        f1: flagged.f1,
        severityAgreement: flagged.severityAgreement,
        users: flagged.users,
        unit: 'user, flagged when any post has a crisis finding (as the safety stage labels)',
        suicidalContentOnly: { precision: suicidalOnly.precision, recall: suicidalOnly.recall, f1: suicidalOnly.f1 },
        urgent: { ...flagged.urgent, unit: 'users labelled Behavior or Attempt vs a post rated method, intent, plan or behaviour' },
        tuningPart: {
          precision: flaggedTuning.precision,
          recall: flaggedTuning.recall,
          f1: flaggedTuning.f1,
          urgent: flaggedTuning.urgent,
          users: flaggedTuning.users,
        },
      };

      // Throughput on the synthetic conversations' message texts, one core (this thread).
      const texts: string[] = [];
      for (let i = 0; texts.length < opts.texts; i++) {
        for (const m of generateConversation(i, { seed: 42, crisisShare: 0.1, piiShare: 0.15 }).messages) texts.push(m.content);
      }
      texts.length = opts.texts;
      const scan = (t: string) => {
        engine.detect(t);
        assessCrisis(t);
        detectBias(t);
      };
      const synthetic = throughput(texts, scan);
      // Real text: every counsel-chat question and answer (longer than the synthetic messages).
      const real = readCounselChat(devFile('counsel-chat')).flatMap((a) => [a.questionText, a.answerText].filter((t) => t.length > 0));
      const counselChat = throughput(real, scan);

      // The learned screen (the default) on the C-SSRS report part: a user's posts are one unit.
      const learnedScreen = await CrisisScreen.open();
      const reportUsers = readCssrs(cssrs, parsePythonStringList, 'report');
      const verdicts = await learnedScreen.assess(
        reportUsers.map((u) => {
          const posts = u.posts ?? [u.raw];
          return { texts: posts, assessments: posts.map((p) => assessCrisis(p)) };
        }),
      );
      const tally = (flag: (i: number) => boolean, truth: (i: number) => boolean) => {
        let tp = 0;
        let fp = 0;
        let fn = 0;
        reportUsers.forEach((_, i) => {
          if (flag(i) && truth(i)) tp++;
          else if (flag(i)) fp++;
          else if (truth(i)) fn++;
        });
        return prf(tp, fp, fn);
      };
      const atRisk = (i: number) => AT_RISK.has(reportUsers[i]!.label);
      const urgentTruth = (i: number) => URGENT.has(reportUsers[i]!.label);
      const learned = {
        ...tally((i) => verdicts[i]!.severity !== 'NONE', atRisk),
        urgent: tally((i) => CSSRS_RANK[verdicts[i]!.rung] >= CSSRS_RANK.intent, urgentTruth),
        calibration: {
          anyRisk: expectedCalibrationError(
            verdicts.map((v) => v.probability ?? 0),
            reportUsers.map((_, i) => (atRisk(i) ? 1 : 0)),
          ),
          urgent: expectedCalibrationError(
            verdicts.map((v) => v.urgentProbability ?? 0),
            reportUsers.map((_, i) => (urgentTruth(i) ? 1 : 0)),
          ),
          unit: 'expected calibration error of the head’s probabilities (0 for users the first pass kept from it), 10 bins',
        },
        screened: verdicts.filter((v) => v.screened).length,
        users: reportUsers.length,
        unit: 'user (all posts one unit): flagged at any severity after rules + learned head; urgent = C-SSRS rung intent, plan or behaviour',
      };
      await learnedScreen.dispose();

      // The whole stage: prepared shards in, kept / rejected / audit out, with the learned screen
      // (the default) and with the rules only. Per core = conversations per CPU-second of this
      // process (the encoder's onnxruntime may use both cores).
      const stage: Record<string, unknown> = {};
      if (opts.stageRecords > 0) {
        const dir = mkdtempSync(path.join(tmpdir(), 'pixel-bench-safety-'));
        try {
          const store = new LocalArtifactStore(dir);
          const prepared = await prepareDataset({
            config: PrepareConfigSchema.parse({ source: { kind: 'synthetic', count: opts.stageRecords } }),
            store,
          });
          for (const mode of ['learned', 'rules'] as const) {
            const policy = SafetyPolicySchema.parse({ crisisModel: mode, personModel: mode });
            const screen = mode === 'learned' ? await CrisisScreen.open() : CrisisScreen.rules();
            const persons = mode === 'learned' ? await PersonTagger.open() : undefined;
            const cpu = process.cpuUsage();
            const started = process.hrtime.bigint();
            let records = 0;
            let crisisRecords = 0;
            for (const shard of prepared.shards) {
              const counts = (await filterShard({ store, engine, shard, policy, screen, ...(persons ? { persons } : {}) })).counts;
              records += counts.records;
              crisisRecords += counts.crisis;
            }
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            const used = process.cpuUsage(cpu);
            const cpuSeconds = (used.user + used.system) / 1e6;
            stage[mode] = {
              records,
              recordsPerSecond: Math.round(records / seconds),
              conversationsPerCpuSecond: Math.round(records / cpuSeconds),
              crisisShare: Math.round((crisisRecords / records) * 1000) / 1000,
              screen: { ...screen.stats },
              ...(persons ? { personTagger: { ...persons.stats } } : {}),
            };
            await screen.dispose();
            await persons?.dispose();
            // The cache is keyed by the policy: the second mode must not reuse the first's output.
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      console.log(
        JSON.stringify({
          benchmark: 'safety',
          split: 'report',
          splitSeed: DEV_SPLIT_SEED,
          pii,
          piiTuningPart: { samples: piiTuning.samples, overall: piiTuning.overall, byType: piiTuning.byType },
          ...(personLearned ? { personLearned } : {}),
          crisis: { ...crisis, learned },
          bias,
          textsPerSecondPerCore: synthetic.textsPerSecond,
          throughput: {
            stageConversationsPerSecondPerCore: (stage.learned as { conversationsPerCpuSecond?: number } | undefined)?.conversationsPerCpuSecond,
            synthetic: { ...synthetic, texts: texts.length },
            counselChat: { ...counselChat, texts: real.length },
          },
          ...(opts.stageRecords > 0
            ? {
                stage: {
                  ...stage,
                  scope: 'safety stage over prepared synthetic shards (every message of every conversation, crisis screen, redaction, writes)',
                },
              }
            : {}),
          throughputScope:
            'PII engine + crisis assessment + bias detection per text, median of 3 runs, one thread; synthetic message texts and real counsel-chat questions and answers',
          targets: {
            piiF1: { structured: 0.95, PERSON: 0.9, ADDRESS: 0.8 },
            crisis: { f1: 0.85, recall: 0.9, urgentRecall: 0.9 },
            stageConversationsPerSecondPerCore: 1000,
            textsPerSecondPerCore: 20_000,
          },
        }),
      );
    });
}
