import type { ConversationRecord, DiscardReason, Message } from '../contracts';
import { detectBias } from '../safety/bias/bias';
import type { CrisisAssessment } from '../safety/crisis/assess';
import { CRISIS_SEVERITY_RANK, type CrisisSeverity } from '../contracts/crisis';
import type { DetectionEngine } from '../safety/engine';
import { checkGates } from '../safety/gates';
import { mayNameSomeone, spanFilterLexicon, type SpanFilterLexicon } from '../safety/pii/rampart';
import { assessCrisisMemo, protectedSequence } from './text';
import type { Variant } from './strategies';

/** The crisis picture of a conversation: the worst user turn's severity and every type found. */
export interface CrisisSummary {
  severity: CrisisSeverity;
  types: string[];
  confidence: number;
  protocol: string;
}

export function summarizeCrisis(messages: readonly Message[]): CrisisSummary {
  let worst: CrisisAssessment | undefined;
  const types = new Set<string>();
  for (const m of messages) {
    if (m.role !== 'user') continue;
    const a = assessCrisisMemo(m.content);
    for (const t of a.types) types.add(t);
    if (!worst || CRISIS_SEVERITY_RANK[a.severity] > CRISIS_SEVERITY_RANK[worst.severity]) worst = a;
  }
  return {
    severity: worst?.severity ?? 'NONE',
    types: [...types].sort(),
    confidence: worst?.confidence ?? 0,
    protocol: worst?.protocol.name ?? 'none',
  };
}

/** Sentences with their end punctuation; line breaks end a sentence too. */
export function sentencesOf(text: string): string[] {
  return text.match(/[^.!?\n]+(?:[.!?]+["'”’)]?|\n|$)/g) ?? [];
}

/** What the safety checks find in one message, in a form that can be compared. */
interface MessageFindings {
  pii: Map<string, number>;
  bias: Set<string>;
  gates: Set<string>;
  /** Names are left to the tagger (see `SafetyRecheck`): whether the text may name someone. */
  mayName: boolean;
}

const NO_FINDINGS: MessageFindings = { pii: new Map(), bias: new Set(), gates: new Set(), mayName: false };

/**
 * Re-runs the safety engine on augmented copies and compares them with their parent. A copy is
 * refused when it weakens crisis severity, changes protected text (paraphrase), or brings in PII,
 * bias or a content gate its parent did not have. Only messages that differ from the parent
 * are scanned again, and within them only the sentences that changed; findings are
 * remembered by text, so a parent's sentences are scanned once for all its copies.
 *
 * With `names` (the learned name tagger's lexicon), person names are not decided here: the
 * changed stretches that may name someone (a rule name or a name candidate of the tagger's
 * cascade) come back as `mayName`, for the tagger to read in a batch (`learnedRecheckMany`);
 * every other category is decided at once.
 */
export class SafetyRecheck {
  private parent: ConversationRecord | undefined;
  private parentCrisis: CrisisSummary | undefined;
  private readonly sentenceFindings = new Map<string, MessageFindings>();

  constructor(
    private readonly engine: DetectionEngine,
    private readonly protectedWords: ReadonlySet<string>,
    private readonly piiThreshold = 0.5,
    private readonly names?: SpanFilterLexicon,
  ) {}

  /** A re-check that leaves person names to the learned tagger (see the class comment). */
  static withTaggedNames(engine: DetectionEngine, protectedWords: ReadonlySet<string>): SafetyRecheck {
    return new SafetyRecheck(engine, protectedWords, 0.5, spanFilterLexicon());
  }

  /** Starts a new parent record. */
  reset(parent: ConversationRecord): void {
    this.parent = parent;
    this.parentCrisis = undefined;
  }

  crisisOfParent(): CrisisSummary {
    if (!this.parent) throw new Error('SafetyRecheck.reset was not called');
    this.parentCrisis ??= summarizeCrisis(this.parent.messages);
    return this.parentCrisis;
  }

  private findings(m: Message): MessageFindings {
    const pii = new Map<string, number>();
    let ruleNames = 0;
    for (const f of this.engine.detect(m.content)) {
      if (f.score < this.piiThreshold) continue;
      if (this.names && f.category === 'PERSON') ruleNames += 1;
      else pii.set(f.category, (pii.get(f.category) ?? 0) + 1);
    }
    const biasFindings = detectBias(m.content);
    const bias = new Set(biasFindings.map((b) => `${b.type}:${b.level}`));
    const gates = new Set(checkGates(m.content, m.role, biasFindings).map((g) => `${g.gate}:${g.severity}`));
    const mayName = this.names !== undefined && (ruleNames > 0 || mayNameSomeone(m.content, this.names));
    return { pii, bias, gates, mayName };
  }

  /** Findings of a sentence (or a stretch of text), remembered: a parent's sentences are compared with many copies, and context lines repeat. */
  private findingsOfSentence(role: Message['role'], text: string): MessageFindings {
    const key = `${role}\u0000${text}`;
    let f = this.sentenceFindings.get(key);
    if (!f) {
      if (this.sentenceFindings.size >= 8192) this.sentenceFindings.clear();
      f = this.findings({ role, content: text });
      this.sentenceFindings.set(key, f);
    }
    return f;
  }

  /**
   * Checks one copy. `strategy` decides which rules apply: paraphrase must leave protected text
   * exactly as it was; a generated scenario must be recognised as the crisis it was written to show.
   */
  check(variant: Variant, strategy: string): { reason?: DiscardReason; crisis: CrisisSummary; mayName?: string[] } {
    const parent = this.parent;
    if (!parent) throw new Error('SafetyRecheck.reset was not called');
    const crisis = summarizeCrisis(variant.messages);
    if (variant.intended) {
      if (crisis.severity === 'NONE' || !crisis.types.includes(variant.intended.type)) return { reason: 'crisis_not_recognised', crisis };
    } else if (CRISIS_SEVERITY_RANK[crisis.severity] < CRISIS_SEVERITY_RANK[this.crisisOfParent().severity]) {
      return { reason: 'crisis_weakened', crisis };
    }
    const parentContents = new Set(parent.messages.map((m) => m.content));
    const mayName: string[] = [];
    for (let i = 0; i < variant.messages.length; i++) {
      const m = variant.messages[i] as Message;
      if (!variant.intended && parentContents.has(m.content)) continue;
      // The counterpart is the parent's message at the same place with the same role, if any.
      const offset = variant.messages.length - parent.messages.length;
      const j = parent.messages[i]?.role === m.role ? i : parent.messages[i - offset]?.role === m.role ? i - offset : -1;
      if (strategy === 'paraphrase' && j >= 0) {
        const was = protectedSequence((parent.messages[j] as Message).content, this.protectedWords);
        const now = protectedSequence(m.content, this.protectedWords);
        if (was.length !== now.length || was.some((w, k) => w !== now[k])) return { reason: 'protected_text_changed', crisis };
      }
      // Only the sentences that changed are scanned: after the sentences the copy shares with
      // the parent at the start and at the end, each changed sentence against the parent's
      // sentence in its place, or the changed stretch as a whole when the counts differ.
      const pairs: [after: string, before: string | undefined][] = [];
      const parentText = j >= 0 && !variant.intended ? (parent.messages[j] as Message).content : undefined;
      if (parentText === undefined) {
        pairs.push([m.content, undefined]);
      } else {
        const vs = sentencesOf(m.content);
        const ps = sentencesOf(parentText);
        let pre = 0;
        while (pre < vs.length && pre < ps.length && vs[pre] === ps[pre]) pre++;
        let suf = 0;
        while (suf < vs.length - pre && suf < ps.length - pre && vs[vs.length - 1 - suf] === ps[ps.length - 1 - suf]) suf++;
        const cv = vs.slice(pre, vs.length - suf);
        const cp = ps.slice(pre, ps.length - suf);
        if (cv.length === cp.length) {
          cv.forEach((v, k) => {
            const p = cp[k] as string;
            if (v !== p) pairs.push([v, p]);
          });
        } else {
          pairs.push([cv.join(' '), cp.join(' ')]);
        }
      }
      for (const [afterText, beforeText] of pairs) {
        const after = this.findingsOfSentence(m.role, afterText);
        if (after.mayName) mayName.push(afterText);
        // Most copies find nothing at all; the parent is scanned only when there is something to compare.
        if (after.pii.size === 0 && after.bias.size === 0 && after.gates.size === 0) continue;
        const before = beforeText === undefined ? NO_FINDINGS : this.findingsOfSentence(m.role, beforeText);
        for (const [category, n] of after.pii) if (n > (before.pii.get(category) ?? 0)) return { reason: 'pii_introduced', crisis };
        for (const b of after.bias) if (!before.bias.has(b)) return { reason: 'bias_introduced', crisis };
        for (const g of after.gates) if (!before.gates.has(g)) return { reason: 'gate_introduced', crisis };
      }
    }
    return mayName.length > 0 ? { crisis, mayName } : { crisis };
  }
}
