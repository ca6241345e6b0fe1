import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { z } from 'zod';
import { SCENARIOS, type Scenario } from '../contracts/evaluation';
import { describeZodError } from '../contracts/validation';
import { readInputFile } from '../util/files';
import { nonLinearReason } from '../util/regex';
import { parseYamlData } from '../util/yaml-file';

/** A space in a pattern stands for any run of whitespace. */
function expandSpaces(source: string): string {
  return source.replace(/ /g, '\\s+');
}

const pattern = z
  .string()
  .trim()
  .min(1)
  .superRefine((source, ctx) => {
    // {condition} and {label} are filled in at compile time with plain alternations.
    const expanded = expandSpaces(source).replace(/\{[a-z]+\}/g, '(?:x)');
    const reason = nonLinearReason(expanded);
    if (reason)
      ctx.addIssue({ code: 'custom', message: `pattern ${JSON.stringify(source.slice(0, 80))} may run in more than linear time: ${reason}` });
    try {
      new RegExp(expanded, 'iu');
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `pattern ${JSON.stringify(source.slice(0, 80))} is not a valid regular expression: ${(err as Error).message}`,
      });
    }
  });
const patterns = z.array(pattern).min(1);

/** The shape of markers.yaml: pattern lists by metric (see the file's header for how patterns are read). */
export const EvaluationMarkersSchema = z
  .object({
    safety: z
      .object({
        encouragement: patterns,
        suppressors: patterns,
        protocol: z.object({ acknowledge: patterns, assess: patterns, crisisLine: patterns, humanHelp: patterns, emergency: patterns }).strict(),
      })
      .strict(),
    empathy: z
      .object({
        reflection: patterns,
        validation: patterns,
        openQuestion: z.object({ leadIns: patterns, openers: patterns, closedOpeners: patterns, wh: patterns }).strict(),
        dismissive: patterns,
        antiEmpathic: patterns,
        suppressors: patterns,
        stopwords: z.array(z.string().trim().toLowerCase().min(1)),
      })
      .strict(),
    clinical: z
      .object({
        techniques: z.record(
          z.string().regex(/^[a-z][a-z0-9_]*$/, 'technique names are snake_case'),
          z.object({ scenarios: z.array(z.enum(SCENARIOS)).min(1), patterns }).strict(),
        ),
        conditions: patterns,
        labels: patterns,
        diagnosing: patterns,
        diagnosingSuppressors: patterns,
        referral: patterns,
        brushOff: patterns,
      })
      .strict(),
  })
  .strict();
/** markers.yaml as validated, before compiling. */
export type EvaluationMarkersSource = z.infer<typeof EvaluationMarkersSchema>;

/** The compiled vocabulary. Every RegExp is global (`giu`) and matches whole words. */
export interface EvaluationMarkers {
  safety: {
    encouragement: RegExp;
    suppressors: RegExp;
    protocol: { acknowledge: RegExp; assess: RegExp; crisisLine: RegExp; humanHelp: RegExp; emergency: RegExp };
  };
  empathy: {
    reflection: RegExp;
    validation: RegExp;
    openQuestion: { leadIn: RegExp; openers: RegExp; closedOpeners: RegExp; wh: RegExp };
    dismissive: RegExp;
    antiEmpathic: RegExp;
    suppressors: RegExp;
    stopwords: ReadonlySet<string>;
  };
  clinical: {
    techniques: { name: string; scenarios: ReadonlySet<Scenario>; regex: RegExp }[];
    diagnosing: RegExp;
    diagnosingSuppressors: RegExp;
    referral: RegExp;
    brushOff: RegExp;
  };
  /** sha256 of the YAML text the markers came from. */
  sha256: string;
}

/** One RegExp for a list of patterns: any of them, as whole words. */
function compile(sources: readonly string[], substitutions: Record<string, string> = {}): RegExp {
  const alternatives = sources.map((s) => {
    let expanded = expandSpaces(s);
    for (const [name, value] of Object.entries(substitutions)) expanded = expanded.split(`{${name}}`).join(value);
    return `(?:${expanded})`;
  });
  return new RegExp(`(?<!\\w)(?:${alternatives.join('|')})(?!\\w)`, 'giu');
}

/** Compiles validated marker vocabulary (e.g. a test's own YAML). */
export function compileEvaluationMarkers(raw: unknown, what = 'evaluation markers', sha256 = ''): EvaluationMarkers {
  const parsed = EvaluationMarkersSchema.safeParse(raw);
  if (!parsed.success) throw new Error(describeZodError(what, parsed.error));
  const m = parsed.data;
  const placeholders = {
    condition: `(?:${m.clinical.conditions.map((c) => `(?:${expandSpaces(c)})`).join('|')})`,
    label: `(?:${m.clinical.labels.map((c) => `(?:${expandSpaces(c)})`).join('|')})`,
  };
  const leadIn = `(?:${m.empathy.openQuestion.leadIns.map((l) => `(?:${expandSpaces(l)})`).join('|')})`;
  return {
    safety: {
      encouragement: compile(m.safety.encouragement),
      suppressors: compile(m.safety.suppressors),
      protocol: {
        acknowledge: compile(m.safety.protocol.acknowledge),
        assess: compile(m.safety.protocol.assess),
        crisisLine: compile(m.safety.protocol.crisisLine),
        humanHelp: compile(m.safety.protocol.humanHelp),
        emergency: compile(m.safety.protocol.emergency),
      },
    },
    empathy: {
      reflection: compile(m.empathy.reflection),
      validation: compile(m.empathy.validation),
      openQuestion: {
        // Lead-ins are bounded (at most three), so stripping them stays linear.
        leadIn: new RegExp(`^(?:${leadIn}\\s+){1,3}`, 'iu'),
        openers: compile(m.empathy.openQuestion.openers),
        closedOpeners: compile(m.empathy.openQuestion.closedOpeners),
        wh: compile(m.empathy.openQuestion.wh),
      },
      dismissive: compile(m.empathy.dismissive),
      antiEmpathic: compile(m.empathy.antiEmpathic),
      suppressors: compile(m.empathy.suppressors),
      stopwords: new Set(m.empathy.stopwords),
    },
    clinical: {
      techniques: Object.entries(m.clinical.techniques).map(([name, t]) => ({ name, scenarios: new Set(t.scenarios), regex: compile(t.patterns) })),
      diagnosing: compile(m.clinical.diagnosing, placeholders),
      diagnosingSuppressors: compile(m.clinical.diagnosingSuppressors),
      referral: compile(m.clinical.referral),
      brushOff: compile(m.clinical.brushOff),
    },
    sha256,
  };
}

/** The default vocabulary file, beside this module. */
export const DEFAULT_EVALUATION_MARKERS = path.join(__dirname, 'markers.yaml');

/** Loads, validates and compiles a markers file; throws a message naming the bad entries. */
export function loadEvaluationMarkers(file = DEFAULT_EVALUATION_MARKERS): EvaluationMarkers {
  const text = readInputFile(file, 'evaluation markers');
  return compileEvaluationMarkers(
    parseYamlData(text, `evaluation markers ${file}`),
    `evaluation markers ${file}`,
    createHash('sha256').update(text).digest('hex'),
  );
}

let cached: EvaluationMarkers | undefined;

/** The default markers (markers.yaml beside this file), loaded once per process. */
export function evaluationMarkers(): EvaluationMarkers {
  cached ??= loadEvaluationMarkers();
  return cached;
}

/**
 * Makes curly quotes and apostrophes straight, so one pattern covers both. Keeps the length:
 * offsets into the result are offsets into the input.
 */
export function normaliseText(text: string): string {
  return text.replace(/[\u2018\u2019\u02bc]/g, "'").replace(/[\u201c\u201d]/g, '"');
}

/** A match's offsets (UTF-16 indices, end exclusive). */
export interface Span {
  start: number;
  end: number;
}

/** Every match of a global RegExp (its lastIndex is not touched). */
export function findAll(regex: RegExp, text: string): Span[] {
  const out: Span[] = [];
  for (const m of text.matchAll(regex)) out.push({ start: m.index, end: m.index + m[0].length });
  return out;
}

/** Whether a RegExp matches anywhere (ignores the global flag's lastIndex). */
export function matches(regex: RegExp, text: string): boolean {
  return text.search(regex) >= 0;
}

/** Sentences with their offsets: runs up to ., !, ? or a line break (linear). */
export function sentences(text: string): { start: number; text: string }[] {
  const out: { start: number; text: string }[] = [];
  const re = /[^.!?\n]+[.!?]*/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const lead = m[0].length - m[0].trimStart().length;
    const body = m[0].trim();
    if (body) out.push({ start: m.index + lead, text: body });
  }
  return out;
}

/** How far back a suppressor may stand from the match it sets aside. */
const SUPPRESSOR_WINDOW = 80;
const CLAUSE_BREAK = /[,;:()\u2014]|\s-\s|\bbut\b/giu;

/**
 * Whether a match is negated or reported: a suppressor stands before it in the same clause
 * (within 80 characters, after the last comma, semicolon, dash or "but").
 */
export function isSuppressed(sentence: string, matchStart: number, suppressors: RegExp): boolean {
  let window = sentence.slice(Math.max(0, matchStart - SUPPRESSOR_WINDOW), matchStart);
  let cut = 0;
  for (const m of window.matchAll(CLAUSE_BREAK)) cut = m.index + m[0].length;
  window = window.slice(cut);
  return matches(suppressors, window);
}

/**
 * Matches of `regex` in `text`, judged sentence by sentence (so `^` means a sentence start), that
 * no suppressor sets aside and that do not stand inside double quotes (reported speech: people
 * may tell you to "just get over it"). Offsets are into `text`. Linear in the text.
 */
export function findUnsuppressed(regex: RegExp, text: string, suppressors: RegExp): Span[] {
  const out: Span[] = [];
  for (const s of sentences(text)) {
    let quotes = 0;
    let scanned = 0;
    for (const m of findAll(regex, s.text)) {
      for (; scanned < m.start; scanned++) if (s.text.charCodeAt(scanned) === 34) quotes++;
      if ((quotes & 1) === 1) continue;
      if (!isSuppressed(s.text, m.start, suppressors)) out.push({ start: s.start + m.start, end: s.start + m.end });
    }
  }
  return out;
}
