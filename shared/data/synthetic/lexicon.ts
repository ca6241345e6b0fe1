import * as path from 'node:path';
import { z } from 'zod';
import { CRISIS_SEVERITIES, CRISIS_TYPES, type CrisisSeverity } from '../../contracts';
import { loadYamlFile } from '../../util/yaml-file';

const phrases = z.array(z.string().trim().min(1)).min(1);
/** The severities a synthetic crisis can have (every one but NONE). */
export const SYNTHETIC_SEVERITIES = CRISIS_SEVERITIES.filter((s): s is Exclude<CrisisSeverity, 'NONE'> => s !== 'NONE');
export type SyntheticSeverity = (typeof SYNTHETIC_SEVERITIES)[number];
const bySeverity = <T extends z.ZodType>(value: T) =>
  z.object(Object.fromEntries(SYNTHETIC_SEVERITIES.map((s) => [s, value])) as Record<SyntheticSeverity, T>).strict();

const TopicBankSchema = z
  .object({
    /** What the person brings, completing "I ..." or standing alone. */
    concerns: phrases,
    /** Details a person adds when asked to say more. */
    details: phrases,
    /** How the therapist names the feeling back (reflection). */
    feelings: phrases,
    /** A technique that fits the topic, offered as a small next step. */
    techniques: phrases,
    /** Psychoeducation: one sentence that normalises and explains. */
    psychoeducation: phrases,
  })
  .strict();
export type TopicBank = z.infer<typeof TopicBankSchema>;

/** The shape of `lexicon.yaml`: the synthetic generator's phrase banks. */
export const SyntheticLexiconSchema = z
  .object({
    topics: z
      .record(z.string().regex(/^[a-z][a-z-]*$/, 'topic names are lower-case words joined by -'), TopicBankSchema)
      .refine((t) => Object.keys(t).length > 0, 'topics is empty'),
    durations: phrases,
    openers: phrases,
    reflections: phrases,
    validations: phrases,
    openQuestions: phrases,
    userFollowUps: phrases,
    userClosings: phrases,
    assistantClosings: phrases,
    systemPrompts: phrases,
    crisis: z
      .object({
        /** How often each severity is drawn (relative weights). */
        severityWeights: bySeverity(z.number().min(0)),
        statements: z
          .object(
            Object.fromEntries(CRISIS_TYPES.map((t) => [t, bySeverity(phrases)])) as Record<
              (typeof CRISIS_TYPES)[number],
              ReturnType<typeof bySeverity<typeof phrases>>
            >,
          )
          .strict(),
        followUps: bySeverity(phrases),
        secondReplies: bySeverity(phrases),
        protectiveFactors: phrases,
        acknowledgements: phrases,
        safetyAssessments: phrases,
        resources: phrases,
        imminentResources: phrases,
        humanHelp: phrases,
      })
      .strict(),
    hardNegatives: z
      .array(z.object({ text: z.string().trim().min(1), kind: z.enum(['idiom', 'negation', 'third_person', 'past_resolved']) }).strict())
      .min(1),
    pii: z
      .object({
        firstNames: phrases,
        lastNames: phrases,
        streets: phrases,
        streetSuffixes: phrases,
        cities: phrases,
        months: phrases,
        usAreaCodes: z.array(z.string().regex(/^\d{3}$/)).min(1),
      })
      .strict(),
  })
  .strict();
export type SyntheticLexicon = z.infer<typeof SyntheticLexiconSchema>;

export const DEFAULT_SYNTHETIC_LEXICON = path.join(__dirname, 'lexicon.yaml');

/** Loads and validates a synthetic lexicon file; the sha256 of its text identifies it. */
export function loadSyntheticLexicon(file = DEFAULT_SYNTHETIC_LEXICON): { lexicon: SyntheticLexicon; sha256: string } {
  const { value, sha256 } = loadYamlFile(file, SyntheticLexiconSchema, 'synthetic lexicon');
  return { lexicon: value, sha256 };
}

let builtIn: SyntheticLexicon | undefined;
/** The built-in lexicon (`lexicon.yaml` beside this file), loaded once. */
export function syntheticLexicon(): SyntheticLexicon {
  builtIn ??= loadSyntheticLexicon().lexicon;
  return builtIn;
}
