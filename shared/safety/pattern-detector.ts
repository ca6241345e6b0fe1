import { z } from 'zod';
import type { Detector, Finding } from './types';
import { VALIDATOR_NAMES, VALIDATORS, type ValidatorName } from './validators';
import { escapeRegex, nonLinearReason } from '../util/regex';
import { parseYamlText } from '../util/yaml-file';

const ContextSchema = z
  .object({
    /** Words that, near a match, change its score (matched case-insensitively as whole words). */
    words: z.array(z.string().min(1)).min(1),
    /** Added to the score (negative lowers it). */
    adjust: z.number().min(-1).max(1),
    /** How many characters before and after a match to look in. */
    window: z.number().int().min(1).max(500).default(40),
    /** When the context is present the finding takes this category (a date near "born" is a DATE_OF_BIRTH). */
    category: z
      .string()
      .regex(/^[A-Z_]+$/)
      .optional(),
  })
  .strict();

/** A detector defined as data: a new pattern needs no code change. */
export const PatternDetectorConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Z][A-Za-z0-9]*Detector$/, 'detector names look like EmailDetector'),
    categories: z.array(z.string().regex(/^[A-Z_]+$/)).min(1),
    patterns: z
      .array(
        z
          .object({
            name: z.string().min(1),
            /** A JavaScript regular expression without backtracking hazards: no quantified group holds an unbounded quantifier. */
            regex: z
              .string()
              .min(1)
              .superRefine((source, ctx) => {
                try {
                  new RegExp(source, 'u');
                } catch {
                  return; // not a regular expression at all: compiling the detector says so
                }
                const reason = nonLinearReason(source);
                if (reason) ctx.addIssue({ code: 'custom', message: `may run in more than linear time: ${reason}` });
              }),
            flags: z
              .string()
              .regex(/^[imsu]*$/, 'flags may be i, m, s, u (g is implied)')
              .default(''),
            score: z.number().min(0).max(1),
            /** Defaults to the detector's first category. */
            category: z
              .string()
              .regex(/^[A-Z_]+$/)
              .optional(),
            /** Capture group holding the entity (0 = the whole match). */
            group: z.number().int().min(0).max(9).default(0),
          })
          .strict(),
      )
      .min(1),
    context: z.array(ContextSchema).default([]),
    /** A named validator; a match that fails it is dropped, one that passes scores at least `validatedScore`. */
    validator: z.enum(VALIDATOR_NAMES).optional(),
    validatedScore: z.number().min(0).max(1).default(0.95),
  })
  .strict();
export type PatternDetectorConfig = z.input<typeof PatternDetectorConfigSchema>;

interface CompiledContext {
  pattern: RegExp;
  adjust: number;
  window: number;
  category: string | undefined;
}

/** Runs a {@link PatternDetectorConfig}: patterns, then context, then the validator. */
export class PatternDetector implements Detector {
  readonly name: string;
  readonly categories: readonly string[];
  private readonly patterns: { name: string; regex: RegExp; score: number; category: string; group: number }[];
  private readonly context: CompiledContext[];
  private readonly validator: ValidatorName | undefined;
  private readonly validatedScore: number;

  constructor(input: PatternDetectorConfig) {
    const config = PatternDetectorConfigSchema.parse(input);
    this.name = config.name;
    this.categories = config.categories;
    this.patterns = config.patterns.map((p) => {
      let regex: RegExp;
      try {
        regex = new RegExp(p.regex, `${p.flags}g`);
      } catch (err) {
        throw new Error(`${config.name}: pattern ${p.name} is not a valid regular expression: ${(err as Error).message}`);
      }
      const category: string = p.category ?? config.categories[0] ?? '';
      if (!config.categories.includes(category))
        throw new Error(`${config.name}: pattern ${p.name} has category ${category}, not one of ${config.categories.join(', ')}`);
      return { name: p.name, regex, score: p.score, category, group: p.group };
    });
    this.context = config.context.map((c) => ({
      pattern: new RegExp(`\\b(?:${c.words.map(escapeRegex).join('|')})\\b`, 'i'),
      adjust: c.adjust,
      window: c.window,
      category: c.category,
    }));
    for (const c of this.context) {
      if (c.category && !config.categories.includes(c.category))
        throw new Error(`${config.name}: context category ${c.category} is not one of ${config.categories.join(', ')}`);
    }
    this.validator = config.validator;
    this.validatedScore = config.validatedScore;
  }

  detect(text: string): Finding[] {
    const findings: Finding[] = [];
    for (const p of this.patterns) {
      p.regex.lastIndex = 0;
      for (let m = p.regex.exec(text); m !== null; m = p.regex.exec(text)) {
        if (m[0].length === 0) {
          p.regex.lastIndex += 1;
          continue;
        }
        const value = m[p.group];
        if (value === undefined) continue;
        const start = p.group === 0 ? m.index : m.index + m[0].indexOf(value);
        const end = start + value.length;
        let score = p.score;
        let category = p.category;
        const why = [`pattern ${p.name} (${p.score})`];
        for (const c of this.context) {
          const around = text.slice(Math.max(0, start - c.window), start) + ' ' + text.slice(end, end + c.window);
          if (c.pattern.test(around)) {
            score += c.adjust;
            if (c.category) category = c.category;
            why.push(`context ${c.adjust > 0 ? '+' : ''}${c.adjust}${c.category ? ` -> ${c.category}` : ''}`);
          }
        }
        if (this.validator) {
          if (!VALIDATORS[this.validator](value)) continue;
          score = Math.max(score, this.validatedScore);
          why.push(`${this.validator} valid`);
        }
        score = Math.min(1, Math.max(0, score));
        findings.push({ category, start, end, score, detector: this.name, explanation: why.join(', ') });
      }
    }
    return findings;
  }
}

/** Parses detector definitions (YAML or JSON text), naming the entry and field that is wrong. */
export function parsePatternDetectors(text: string, source: string): PatternDetector[] {
  return parseYamlText(text, z.array(PatternDetectorConfigSchema), source).map((config) => new PatternDetector(config));
}
