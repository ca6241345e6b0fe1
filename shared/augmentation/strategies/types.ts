import type { AugmentConfig, ConversationRecord, Message } from '../../contracts';
import type { CrisisSeverity } from '../../contracts/crisis';
import type { AugmentLexicon } from '../lexicon';
import type { Rng } from '../../util/rng';

/** What a strategy made of a record: new messages and the parameters it chose (kept in metadata). */
export interface Variant {
  messages: Message[];
  params: Record<string, unknown>;
  /** Crisis scenarios only: the type and severity the conversation was written to show. */
  intended?: { type: string; severity: CrisisSeverity };
}

export interface StrategyContext {
  rng: Rng;
  lexicon: AugmentLexicon;
  protectedWords: ReadonlySet<string>;
  config: AugmentConfig;
}

/** Returns a variant, or undefined when the record offers the strategy nothing to work with. */
export type Strategy = (record: ConversationRecord, ctx: StrategyContext) => Variant | undefined;

export const isCrisisRecord = (record: ConversationRecord): boolean => (record.labels ?? []).includes('crisis');
