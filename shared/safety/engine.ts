import type { Detector, Finding } from './types';

/** Detectors by name and by the categories they find. */
export class DetectorRegistry {
  private readonly detectors = new Map<string, Detector>();

  register(detector: Detector): this {
    if (this.detectors.has(detector.name)) throw new Error(`detector ${detector.name} is registered twice`);
    this.detectors.set(detector.name, detector);
    return this;
  }

  /** Every detector that finds at least one of `categories` (all detectors when omitted). */
  select(categories?: readonly string[]): Detector[] {
    const all = [...this.detectors.values()];
    if (!categories) return all;
    const wanted = new Set(categories);
    return all.filter((d) => d.categories.some((c) => wanted.has(c)));
  }

  get names(): string[] {
    return [...this.detectors.keys()];
  }
}

export interface EngineOptions {
  /** Findings below this score are dropped (once, here, not in detectors). */
  threshold?: number;
  /** Only these categories (default: every category the registry knows). */
  categories?: readonly string[];
}

export interface AnalysisResult {
  findings: Finding[];
  /** Findings that lost to an overlapping, stronger finding or fell under the threshold. */
  discarded: { finding: Finding; reason: string }[];
}

/**
 * Resolves overlaps: a finding survives unless it overlaps one with a higher score (ties go to
 * the longer span, then to the earlier detector). Input order does not matter.
 */
export function resolveOverlaps(findings: Finding[]): { kept: Finding[]; lost: { finding: Finding; to: Finding }[] } {
  const ranked = [...findings].sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Finding[] = [];
  const lost: { finding: Finding; to: Finding }[] = [];
  if (ranked.some((f) => !(f.end > f.start && f.start >= 0))) {
    // Empty or malformed spans: the plain search (no detector reports them).
    for (const f of ranked) {
      const winner = kept.find((k) => f.start < k.end && k.start < f.end);
      if (winner) lost.push({ finding: f, to: winner });
      else kept.push(f);
    }
  } else {
    // Which kept finding (its place in `kept`) covers each character. Kept spans never overlap,
    // so a character has at most one, and a finding's check reads only its own characters: linear
    // in the findings' lengths, where searching every kept finding was quadratic in their number
    // (a megabyte of e-mail addresses took half a minute).
    const owner = new Int32Array(ranked.reduce((m, f) => Math.max(m, f.end), 0)).fill(-1);
    for (const f of ranked) {
      let winner = -1;
      for (let i = f.start; i < f.end; i++) {
        const o = owner[i] as number;
        if (o >= 0 && (winner < 0 || o < winner)) winner = o;
      }
      if (winner >= 0) lost.push({ finding: f, to: kept[winner] as Finding });
      else {
        owner.fill(kept.length, f.start, f.end);
        kept.push(f);
      }
    }
  }
  kept.sort((a, b) => a.start - b.start);
  return { kept, lost };
}

/** Runs the selected detectors over a text, merges overlaps and applies the threshold once. */
export class DetectionEngine {
  private readonly detectors: Detector[];
  private readonly threshold: number;
  private readonly categories: Set<string> | undefined;

  constructor(registry: DetectorRegistry, options: EngineOptions = {}) {
    this.detectors = registry.select(options.categories);
    this.threshold = options.threshold ?? 0.5;
    this.categories = options.categories ? new Set(options.categories) : undefined;
  }

  /**
   * Findings of every detector; `combine` may rewrite the detectors' raw findings before the
   * threshold and the overlap resolution (the learned name tagger replaces rule names with its own).
   */
  analyze(text: string, combine?: (raw: Finding[]) => Finding[]): AnalysisResult {
    let raw: Finding[] = [];
    for (const d of this.detectors) {
      for (const f of d.detect(text)) if (!this.categories || this.categories.has(f.category)) raw.push(f);
    }
    if (combine) raw = combine(raw).filter((f) => !this.categories || this.categories.has(f.category));
    const discarded: AnalysisResult['discarded'] = [];
    const above = raw.filter((f) => {
      if (f.score >= this.threshold) return true;
      discarded.push({ finding: f, reason: `score ${f.score.toFixed(2)} below threshold ${this.threshold}` });
      return false;
    });
    const { kept, lost } = resolveOverlaps(above);
    for (const l of lost)
      discarded.push({ finding: l.finding, reason: `overlaps ${l.to.category} from ${l.to.detector} (score ${l.to.score.toFixed(2)})` });
    return { findings: kept, discarded };
  }

  /** Findings only. */
  detect(text: string, combine?: (raw: Finding[]) => Finding[]): Finding[] {
    return this.analyze(text, combine).findings;
  }
}
