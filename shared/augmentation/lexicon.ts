import * as path from 'node:path';
import { z } from 'zod';
import { loadYamlFile } from '../util/yaml-file';

const phrases = z.array(z.string().trim().min(1)).min(1);
const GenderSchema = z.enum(['male', 'female']);

export const AugmentLexiconSchema = z
  .object({
    context: z.object({
      settings: phrases,
      concerns: z.record(z.string(), phrases).refine((r) => 'general' in r, 'concerns needs a "general" entry'),
      emotions: z.record(z.string(), phrases),
      goals: z.record(z.string(), phrases).refine((r) => 'general' in r, 'goals needs a "general" entry'),
      crisisGoal: z.string().min(1),
    }),
    techniques: z.object({
      reflection: z.object({ openers: phrases }),
      validation: z.object({ openers: phrases }),
      openQuestion: z.object({ openers: phrases }),
      psychoeducation: z.object({ openers: phrases }),
    }),
    userFrames: z.object({ hedges: phrases, swaps: z.array(z.tuple([z.string().min(1), z.string().min(1)])) }),
    synonyms: z.record(z.string(), phrases),
    protectedWords: phrases,
    demographic: z.object({
      relations: z.array(z.object({ male: z.string(), female: z.string(), neutral: z.string() })).min(1),
      pronouns: z.record(GenderSchema, z.object({ subject: z.string(), object: z.string(), possessive: z.string(), reflexive: z.string() })),
      families: phrases,
      occupations: phrases,
      celebrations: phrases,
      ages: phrases,
      stereotypedPairings: z.array(z.object({ gender: GenderSchema, occupations: phrases })),
    }),
  })
  .strict();
export type AugmentLexicon = z.infer<typeof AugmentLexiconSchema>;
export type TechniqueName = keyof AugmentLexicon['techniques'];

export const DEFAULT_AUGMENT_LEXICON = path.join(__dirname, 'lexicon.yaml');

/** Loads and validates a lexicon file; the sha256 of its text is part of the stage's cache key. */
export function loadAugmentLexicon(file = DEFAULT_AUGMENT_LEXICON): { lexicon: AugmentLexicon; sha256: string } {
  const { value, sha256 } = loadYamlFile(file, AugmentLexiconSchema, 'augmentation lexicon');
  return { lexicon: value, sha256 };
}
