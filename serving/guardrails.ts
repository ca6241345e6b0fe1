import { CRISIS_SEVERITY_RANK, type CrisisSeverity } from '../shared/contracts/crisis';
import { SCENARIOS, type Message } from '../shared/contracts';
import { scoreSafety } from '../shared/evaluation/metrics/safety-compliance';
import type { PromptContext, SafetyFailure } from '../shared/evaluation/metrics/types';
import { assessCrisis } from '../shared/safety/crisis/assess';
import type { DetectionEngine } from '../shared/safety/engine';
import type { CrisisScreen } from '../shared/safety/learned/screen';
import { personsCombiner, type PersonTagger } from '../shared/safety/pii/rampart';
import { Redactor } from '../shared/safety/redact';

/**
 * The serving API's guardrails, on the safety stage's engine: the crisis screen (rules and the
 * learned head) on the user's turns, and on every reply the evaluation's safety check (content
 * gates, encouragement of harm) and PII redaction. Decisions come back as events without text.
 */
export interface GuardrailEvent {
  /** What decided: `crisis` (input), a safety failure of the reply (`medical_advice`, ...), or `pii`. */
  rule: string;
  severity: string;
  /** `protocol`: the crisis protocol was put in front of the reply; `replaced`: the reply was replaced by the fallback; `redacted`: PII in it was replaced by placeholders. */
  action: 'protocol' | 'replaced' | 'redacted';
  /** PII categories redacted (no values). */
  categories?: string[];
}

/** The crisis protocol a reply carries at HIGH and IMMINENT severity: acknowledge, ask about safety, a crisis line, human help (and the emergency number when imminent). */
export const CRISIS_PROTOCOL: Record<'HIGH' | 'IMMINENT', string> = {
  HIGH:
    "I'm really sorry you're going through this, and I'm glad you told me. Are you safe right now? " +
    'If you are thinking about ending your life, please call or text 988 (the Suicide & Crisis Lifeline in the US) or your local crisis line now, ' +
    'and reach out to someone you trust or a mental health professional today.',
  IMMINENT:
    "I'm really sorry you're going through this, and I'm glad you told me. Are you safe right now? " +
    'If you are in immediate danger, please call 911 or your local emergency number now. ' +
    'You can also call or text 988 (the Suicide & Crisis Lifeline in the US). ' +
    'Please reach out to someone you trust so you are not alone, and move away from anything you could use to hurt yourself.',
};

/** What replaces a reply that failed the output check. */
export const SAFE_FALLBACK =
  "I'm not able to help with that in a way that would be safe. If you're struggling, a mental health professional can help, " +
  'and if you are in crisis you can call or text 988 (the Suicide & Crisis Lifeline in the US) or your local emergency number.';

/** Safety failures of a reply that replace it; `pii_leak` is redacted instead, `crisis_protocol` is the input side's job. */
const BLOCKING: ReadonlySet<SafetyFailure> = new Set([
  'medical_advice',
  'boundary_violation',
  'self_harm_method',
  'harmful_language',
  'harmful_encouragement',
] as SafetyFailure[]);

/** The prompt side of the evaluation's check, left out: the input guard decides the protocol. */
const NO_PROMPT: PromptContext = { scenario: SCENARIOS[0], crisis: { severity: 'NONE', types: [], protocol: 'none' }, lastUserTurn: '' };

export interface InputVerdict {
  severity: CrisisSeverity;
  /** The protocol the reply must carry, when the severity calls for one. */
  protocol?: string;
  events: GuardrailEvent[];
}

export interface OutputVerdict {
  /** The text to send: redacted, or the fallback. */
  text: string;
  blocked: boolean;
  events: GuardrailEvent[];
}

export class Guardrails {
  constructor(
    private readonly engine: DetectionEngine,
    private readonly screen: CrisisScreen,
    private readonly persons?: PersonTagger,
  ) {}

  /** The crisis assessment of the user's turns (the latest in the context of the earlier ones). */
  async checkInput(messages: readonly Message[]): Promise<InputVerdict> {
    const texts = messages.filter((m) => m.role === 'user').map((m) => m.content);
    if (texts.length === 0) return { severity: 'NONE', events: [] };
    const [unit] = await this.screen.assess([{ texts, assessments: texts.map((t) => assessCrisis(t)) }]);
    const severity = unit?.severity ?? 'NONE';
    if (CRISIS_SEVERITY_RANK[severity] < CRISIS_SEVERITY_RANK.HIGH) return { severity, events: [] };
    return {
      severity,
      protocol: CRISIS_PROTOCOL[severity as 'HIGH' | 'IMMINENT'],
      events: [{ rule: 'crisis', severity, action: 'protocol' }],
    };
  }

  /** The safety failures that replace a reply (content gates, encouragement of harm), as events. */
  blockedBy(text: string): GuardrailEvent[] {
    return scoreSafety(text, NO_PROMPT, this.engine)
      .failures.filter((f) => BLOCKING.has(f))
      .map((f) => ({ rule: f, severity: f === 'harmful_encouragement' || f === 'self_harm_method' ? 'CRITICAL' : 'ERROR', action: 'replaced' }));
  }

  /** The text with PII replaced by placeholders, the same value by the same placeholder throughout one reply (`redactor`). */
  async redact(text: string, redactor: Redactor): Promise<{ text: string; events: GuardrailEvent[] }> {
    const tagged = this.persons ? (await this.persons.tag([text]))[0] : undefined;
    const { text: redacted, replacements } = redactor.redact(text, this.engine.detect(text, personsCombiner(tagged)));
    if (replacements.length === 0) return { text, events: [] };
    return {
      text: redacted,
      events: [{ rule: 'pii', severity: 'WARNING', action: 'redacted', categories: [...new Set(replacements.map((r) => r.category))].sort() }],
    };
  }

  /**
   * Runs the checks over `conversations` once, so that the first real requests do not pay for
   * compiling the detectors' patterns (V8 interprets a pattern's first runs and compiles it
   * after, separately for text with characters beyond Latin-1) or loading lexicons: measured,
   * a reply's first check took up to 100 ms and later ones under 1 ms.
   */
  async warmUp(conversations: readonly (readonly Message[])[]): Promise<void> {
    for (const c of conversations) {
      for (const variant of [c, c.map((m) => ({ ...m, content: `${m.content} \u2019` }))]) {
        await this.checkInput(variant);
        for (const m of variant) if (m.role === 'assistant') await this.checkOutput(m.content);
      }
    }
  }

  /** Checks a whole reply: a failure of the safety check replaces it with the fallback; otherwise PII in it is redacted. */
  async checkOutput(text: string, redactor = new Redactor()): Promise<OutputVerdict> {
    const blocked = this.blockedBy(text);
    if (blocked.length > 0) return { text: SAFE_FALLBACK, blocked: true, events: blocked };
    return { ...(await this.redact(text, redactor)), blocked: false };
  }
}

/** Words after which a full stop does not end a sentence. */
const ABBREVIATION = /(?:^|\s)(?:dr|mr|mrs|ms|prof|st|jr|sr|vs|etc|e\.g|i\.e|no|mt)\.$/i;

/**
 * Cuts a stream of text into whole sentences, so each can be checked before it is sent: a
 * sentence ends at `.`, `!` or `?` followed by a space, or at a line break (not after a title
 * such as "Dr."). Linear: each character is looked at a bounded number of times.
 */
export class SentenceBuffer {
  private pending = '';
  /** Where the next scan starts: characters before it were looked at already. */
  private scanned = 0;

  /** Adds text; returns the sentences it completed (with their trailing space). */
  push(text: string): string[] {
    this.pending += text;
    const out: string[] = [];
    let from = 0;
    let i = this.scanned;
    for (; i < this.pending.length; i++) {
      const c = this.pending[i];
      const next = this.pending[i + 1];
      const ends = c === '\n' || ((c === '.' || c === '!' || c === '?') && next !== undefined && /\s/.test(next));
      if (!ends) continue;
      if (c === '.' && ABBREVIATION.test(this.pending.slice(Math.max(from, i - 6), i + 1))) continue;
      let end = i + 1;
      while (end < this.pending.length && this.pending[end] === ' ') end++;
      if (end === this.pending.length) break; // the spaces may go on: wait for the next word
      out.push(this.pending.slice(from, end));
      from = end;
      i = end - 1;
    }
    // A sentence end waiting for its next word is looked at again; so is the last character (its
    // follower decides whether it ends a sentence).
    this.scanned = Math.max(from, Math.min(i, this.pending.length - 1)) - from;
    this.pending = this.pending.slice(from);
    return out;
  }

  /** What is left at the end of the stream. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    this.scanned = 0;
    return rest;
  }
}
