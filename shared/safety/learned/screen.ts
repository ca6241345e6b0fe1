import * as path from 'node:path';
import { z } from 'zod';
import { CRISIS_SEVERITY_RANK, CSSRS_RANK, type CrisisSeverity, type CssrsRung } from '../../contracts/crisis';
import { escapeRegex, nonLinearReason } from '../../util/regex';
import { loadYamlFile } from '../../util/yaml-file';
import type { CrisisAssessment } from '../crisis/assess';
import { cssrsLevel } from '../crisis/cssrs-eval';
import type { CrisisHeadFile } from './crisis-head';
import { encoderDir, openEncoder, type Encoder } from './encoder';
import { loadDefaultCrisisHead, scoreCrisisRisk, type LearnedCrisisRisk } from './models';

/**
 * Crisis assessment with the learned head behind a cascade. The rules run on every user turn
 * (microseconds) and keep giving explanations and high-precision triggers; a conversation goes
 * on to the sentence encoder and the head (milliseconds per turn) only when the rules found
 * something or a broad stem list (`gate.yaml`) matches, and embeddings are cached by text. The
 * head can raise a conversation's severity (any risk: MODERATE, urgent: HIGH), never lower it.
 */
export type CrisisModelMode = 'learned' | 'rules';

export const GATE_FILE = path.join(__dirname, 'gate.yaml');
const GateSchema = z.object({ stems: z.array(z.string().min(2).max(40)).min(1).max(1000) }).strict();

/** The first pass's stem list as one case-insensitive, linear-time alternation anchored at word starts. */
export function loadGate(file = GATE_FILE): RegExp {
  const { value } = loadYamlFile(file, GateSchema, 'crisis gate');
  const source = `(?<![\\p{L}\\p{N}])(?:${value.stems.map((s) => escapeRegex(s.toLowerCase()).replace(/ /g, '\\s+')).join('|')})`;
  const bad = nonLinearReason(source);
  if (bad) throw new Error(`crisis gate ${file}: ${bad}`);
  return new RegExp(source, 'iu');
}

/** The rules' place on the C-SSRS ladder for one assessment (the rung of its worst suicidal or self-harm indicator). */
export function ruleRung(a: CrisisAssessment): CssrsRung {
  let rung: CssrsRung = 'none';
  for (const h of a.indicators) {
    if (h.type !== 'suicidal_ideation' && h.type !== 'self_harm') continue;
    const r: CssrsRung =
      h.rung === 'wish_dead'
        ? 'wish_to_be_dead'
        : h.rung === 'active_thoughts'
          ? 'ideation'
          : h.rung === 'method'
            ? 'ideation_with_method'
            : h.rung === 'intent' || h.rung === 'plan' || h.rung === 'behaviour'
              ? h.rung
              : 'none';
    if (CSSRS_RANK[r] > CSSRS_RANK[rung]) rung = r;
  }
  return rung;
}

/** The crisis verdict of one unit (a conversation's user turns, a person's posts). */
export interface UnitCrisis {
  /** The worse of the rules' severity and the head's. */
  severity: CrisisSeverity;
  ruleSeverity: CrisisSeverity;
  /** Place on the C-SSRS ladder: the rules' rung, raised to `ideation` (any risk) or `intent` (urgent) by the head. */
  rung: CssrsRung;
  /** Calibrated probabilities of the head (any risk, urgent), when the unit passed the first pass. */
  probability?: number;
  urgentProbability?: number;
  /** Whether the encoder and the head saw the unit. */
  screened: boolean;
  /** Whether the head raised the severity above the rules'. */
  raisedByModel: boolean;
}

const worse = (a: CrisisSeverity, b: CrisisSeverity): CrisisSeverity => (CRISIS_SEVERITY_RANK[a] >= CRISIS_SEVERITY_RANK[b] ? a : b);

/** The rules' verdict on a unit: its worst severity and rung (the head not asked). */
export function rulesCrisis(assessments: readonly CrisisAssessment[]): UnitCrisis {
  let ruleSeverity: CrisisSeverity = 'NONE';
  let rung: CssrsRung = 'none';
  for (const a of assessments) {
    ruleSeverity = worse(ruleSeverity, a.severity);
    const r = ruleRung(a);
    if (CSSRS_RANK[r] > CSSRS_RANK[rung]) rung = r;
  }
  return { severity: ruleSeverity, ruleSeverity, rung, screened: false, raisedByModel: false };
}

/** The rules' verdict raised by the head's (never lowered). */
function raiseWithHead(rules: UnitCrisis, learned: LearnedCrisisRisk): UnitCrisis {
  // Urgent counts only with any risk: the urgent head's threshold is low (recall first), and on
  // its own it fires on everyday grief and stress in short conversations.
  const urgent = learned.flagged && learned.urgentFlagged;
  const modelSeverity: CrisisSeverity = urgent ? 'HIGH' : learned.flagged ? 'MODERATE' : 'NONE';
  const modelRung: CssrsRung = urgent ? 'intent' : learned.flagged ? 'ideation' : 'none';
  const severity = worse(rules.ruleSeverity, modelSeverity);
  return {
    severity,
    ruleSeverity: rules.ruleSeverity,
    rung: CSSRS_RANK[modelRung] > CSSRS_RANK[rules.rung] ? modelRung : rules.rung,
    probability: learned.anyRisk,
    urgentProbability: learned.urgent,
    screened: true,
    raisedByModel: CRISIS_SEVERITY_RANK[severity] > CRISIS_SEVERITY_RANK[rules.ruleSeverity],
  };
}

/** Combines the rules' assessments of a unit's turns with the head's verdict (undefined: not screened). */
export function combineCrisis(assessments: readonly CrisisAssessment[], learned: LearnedCrisisRisk | undefined): UnitCrisis {
  const rules = rulesCrisis(assessments);
  return learned ? raiseWithHead(rules, learned) : rules;
}

/** A probability as Pixel's outputs carry it: three decimals. */
export const roundProbability = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * What a verdict adds to a crisis record in outputs (the stage's metadata, scan lines): the
 * rung, the rules' own severity (`ruleSeverity` where the caller's rules saw another unit),
 * whether the head saw the unit and, if so, its probabilities.
 */
export function screenFields(
  unit: UnitCrisis,
  ruleSeverity: CrisisSeverity = unit.ruleSeverity,
): { rung: CssrsRung; ruleSeverity: CrisisSeverity; screened: boolean; probability?: number; urgentProbability?: number } {
  return {
    rung: unit.rung,
    ruleSeverity,
    screened: unit.screened,
    ...(unit.probability !== undefined
      ? { probability: roundProbability(unit.probability), urgentProbability: roundProbability(unit.urgentProbability ?? 0) }
      : {}),
  };
}

export interface CrisisScreenStats {
  units: number;
  screened: number;
  textsEmbedded: number;
  cacheHits: number;
  raised: number;
}

/** The learned crisis screen of a process: one encoder and head, shared by every caller. */
export class CrisisScreen {
  readonly stats: CrisisScreenStats = { units: 0, screened: 0, textsEmbedded: 0, cacheHits: 0, raised: 0 };
  private readonly cache = new Map<string, Float32Array>();

  private constructor(
    readonly mode: CrisisModelMode,
    private readonly gate: RegExp,
    private readonly head?: CrisisHeadFile,
    private readonly encoder?: Encoder,
    private readonly cacheSize = 50_000,
  ) {}

  /** Rules only (no model files needed). */
  static rules(): CrisisScreen {
    return new CrisisScreen('rules', loadGate());
  }

  /**
   * The encoder and the head, both checked against their pinned sha256s (a changed or missing
   * file is a clear error naming it; run scripts/setup.sh).
   */
  static async open(
    options: { encoderDir?: string; head?: CrisisHeadFile; gateFile?: string; cacheSize?: number; threads?: number } = {},
  ): Promise<CrisisScreen> {
    const head = options.head ?? loadDefaultCrisisHead();
    const encoder = await openEncoder(options.encoderDir ?? encoderDir(), undefined, {
      batch: 16,
      maxTokens: 256,
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
    if (head.encoder.onnxSha256 !== encoder.spec.onnxSha256) {
      await encoder.dispose();
      throw new Error(
        `the crisis head was trained on embeddings of the encoder file with sha256 ${head.encoder.onnxSha256}, the encoder opened runs ${encoder.spec.onnxSha256}: retrain it (pixel safety train-crisis)`,
      );
    }
    return new CrisisScreen('learned', loadGate(options.gateFile), head, encoder, options.cacheSize);
  }

  /**
   * Whether a unit goes past the first pass: the rules found something, or a gate stem matches.
   * A unit the rules already rate HIGH or worse on an urgent rung (intent, plan, behaviour) is
   * spared the encoder: the head raises to HIGH and `intent` at most, so it could change nothing.
   */
  passesGate(texts: readonly string[], assessments: readonly CrisisAssessment[], rules = rulesCrisis(assessments)): boolean {
    if (CRISIS_SEVERITY_RANK[rules.severity] >= CRISIS_SEVERITY_RANK.HIGH && CSSRS_RANK[rules.rung] >= CSSRS_RANK.intent) return false;
    return (
      assessments.some((a) => a.severity !== 'NONE' || a.indicators.length > 0 || a.suppressed.length > 0) || texts.some((t) => this.gate.test(t))
    );
  }

  /**
   * Assesses units (each: its texts and the rules' assessment of each text), the ones past the
   * first pass in one batch through the encoder.
   */
  async assess(units: readonly { texts: readonly string[]; assessments: readonly CrisisAssessment[] }[]): Promise<UnitCrisis[]> {
    this.stats.units += units.length;
    const rules = units.map((u) => rulesCrisis(u.assessments));
    if (this.mode === 'rules' || !this.encoder || !this.head) return rules;
    const screened = units.map((u, i) => u.texts.length > 0 && this.passesGate(u.texts, u.assessments, rules[i]));
    // This call's embeddings, taken from the cache before the encoder runs: the cache may be
    // cleared when full, or by another call while this one waits for the encoder.
    const vectors = new Map<string, Float32Array>();
    const missing = new Set<string>();
    units.forEach((u, i) => {
      if (!screened[i]) return;
      for (const t of u.texts) {
        const cached = this.cache.get(t);
        if (cached) {
          this.stats.cacheHits += 1;
          vectors.set(t, cached);
        } else missing.add(t);
      }
    });
    if (missing.size > 0) {
      const texts = [...missing];
      const embedded = await this.encoder.embed(texts);
      this.stats.textsEmbedded += texts.length;
      if (this.cache.size + texts.length > this.cacheSize) this.cache.clear();
      texts.forEach((t, i) => {
        this.cache.set(t, embedded[i] as Float32Array);
        vectors.set(t, embedded[i] as Float32Array);
      });
    }
    return units.map((u, i) => {
      const ruled = rules[i] as UnitCrisis;
      if (!screened[i]) return ruled;
      this.stats.screened += 1;
      const embeddings = u.texts.map((t) => vectors.get(t) as Float32Array);
      const level = Math.max(0, ...u.assessments.map(cssrsLevel));
      const verdict = raiseWithHead(ruled, scoreCrisisRisk(this.head as CrisisHeadFile, embeddings, level));
      if (verdict.raisedByModel) this.stats.raised += 1;
      return verdict;
    });
  }

  async dispose(): Promise<void> {
    await this.encoder?.dispose();
  }
}

const opened = new Map<CrisisModelMode, Promise<CrisisScreen>>();
/** The process's screen for a mode, opened once (workers, the CLI). */
export function sharedCrisisScreen(mode: CrisisModelMode): Promise<CrisisScreen> {
  let p = opened.get(mode);
  if (!p) {
    p = mode === 'rules' ? Promise.resolve(CrisisScreen.rules()) : CrisisScreen.open();
    p.catch(() => opened.delete(mode));
    opened.set(mode, p);
  }
  return p;
}
