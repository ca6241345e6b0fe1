import type { ConversationRecord, DiscardReason, Message } from '../contracts';
import { detectBias } from '../safety/bias/bias';
import type { CrisisAssessment } from '../safety/crisis/assess';
import { SEVERITY_RANK, type Severity } from '../safety/crisis/indicators';
import type { DetectionEngine } from '../safety/engine';
import { checkGates } from '../safety/gates';
import { assessCrisisMemo, protectedSequence } from './text';
import type { Variant } from './strategies';

/** The crisis picture of a conversation: the worst user turn's severity and every type found. */
export interface CrisisSummary {
  severity: Severity;
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
    if (!worst || SEVERITY_RANK[a.severity] > SEVERITY_RANK[worst.severity]) worst = a;
  }
  return { severity: worst?.severity ?? 'NONE', types: [...types].sort(), confidence: worst?.confidence ?? 0, protocol: worst?.protocol.name ?? 'none' };
}

/** What the safety checks find in one message, in a form that can be compared. */
interface MessageFindings {
  pii: Map<string, number>;
  bias: Set<string>;
  gates: Set<string>;
}

/**
 * Re-runs the safety engine on augmented copies and compares them with their parent. A copy is
 * refused when it weakens crisis severity, changes protected text (paraphrase), or brings in PII,
 * bias or a content gate its parent did not have. Only messages that differ from the parent
 * are scanned again; the parent's findings are computed once per message and reused for all
 * its copies.
 */
export class SafetyRecheck {
  private parent: ConversationRecord | undefined;
  private parentCrisis: CrisisSummary | undefined;
  private readonly parentFindings = new Map<number, MessageFindings>();

  constructor(
    private readonly engine: DetectionEngine,
    private readonly protectedWords: ReadonlySet<string>,
    private readonly piiThreshold = 0.5,
  ) {}

  /** Starts a new parent record. */
  reset(parent: ConversationRecord): void {
    this.parent = parent;
    this.parentCrisis = undefined;
    this.parentFindings.clear();
  }

  crisisOfParent(): CrisisSummary {
    if (!this.parent) throw new Error('SafetyRecheck.reset was not called');
    this.parentCrisis ??= summarizeCrisis(this.parent.messages);
    return this.parentCrisis;
  }

  private findings(m: Message): MessageFindings {
    const pii = new Map<string, number>();
    for (const f of this.engine.detect(m.content)) if (f.score >= this.piiThreshold) pii.set(f.category, (pii.get(f.category) ?? 0) + 1);
    const biasFindings = detectBias(m.content);
    const bias = new Set(biasFindings.map((b) => `${b.type}:${b.level}`));
    const gates = new Set(checkGates(m.content, m.role, biasFindings).map((g) => `${g.gate}:${g.severity}`));
    return { pii, bias, gates };
  }

  private parentMessageFindings(index: number): MessageFindings {
    const m = this.parent?.messages[index];
    if (!m) return { pii: new Map(), bias: new Set(), gates: new Set() };
    let f = this.parentFindings.get(index);
    if (!f) {
      f = this.findings(m);
      this.parentFindings.set(index, f);
    }
    return f;
  }

  /**
   * Checks one copy. `strategy` decides which rules apply: paraphrase must leave protected text
   * exactly as it was; a generated scenario must be recognised as the crisis it was written to show.
   */
  check(variant: Variant, strategy: string): { reason?: DiscardReason; crisis: CrisisSummary } {
    const parent = this.parent;
    if (!parent) throw new Error('SafetyRecheck.reset was not called');
    const crisis = summarizeCrisis(variant.messages);
    if (variant.intended) {
      if (crisis.severity === 'NONE' || !crisis.types.includes(variant.intended.type)) return { reason: 'crisis_not_recognised', crisis };
    } else if (SEVERITY_RANK[crisis.severity] < SEVERITY_RANK[this.crisisOfParent().severity]) {
      return { reason: 'crisis_weakened', crisis };
    }
    const parentContents = new Set(parent.messages.map((m) => m.content));
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
      const after = this.findings(m);
      // Most copies find nothing at all; the parent's message is scanned only when there is something to compare.
      if (after.pii.size === 0 && after.bias.size === 0 && after.gates.size === 0) continue;
      const before = variant.intended || j < 0 ? { pii: new Map<string, number>(), bias: new Set<string>(), gates: new Set<string>() } : this.parentMessageFindings(j);
      for (const [category, n] of after.pii) if (n > (before.pii.get(category) ?? 0)) return { reason: 'pii_introduced', crisis };
      for (const b of after.bias) if (!before.bias.has(b)) return { reason: 'bias_introduced', crisis };
      for (const g of after.gates) if (!before.gates.has(g)) return { reason: 'gate_introduced', crisis };
    }
    return { crisis };
  }
}
