import type { Message } from '../../contracts';
import { CRISIS_TYPES } from '../../contracts/crisis';
import { SYNTHETIC_SEVERITIES, syntheticLexicon } from '../../data/synthetic/lexicon';
import { isCrisisRecord, type Strategy } from './types';

/** Every (type, severity) pair the scenarios cover: 7 crisis types x 4 severities. */
export const SCENARIO_KINDS = CRISIS_TYPES.flatMap((type) => SYNTHETIC_SEVERITIES.map((severity) => ({ type, severity })));
const L = syntheticLexicon();

const SYSTEM =
  'You are a supportive mental-health assistant. When someone may be at risk, acknowledge what they said, ask directly about their safety, give a crisis line and encourage them to reach a trusted person or professional now.';

/** The first sentence of the parent's opening message, as the everyday context the crisis comes out of. */
function openingContext(text: string): string | undefined {
  const first = /^[^.!?\n]{12,160}[.!?]/u.exec(text.trim());
  return first ? first[0] : undefined;
}

/**
 * Crisis scenario generation: a new conversation in which the person discloses a crisis of a
 * given type and severity (drawn uniformly over all 28 pairs from the record's own seeded stream, so
 * the mix is balanced whatever the data), out of the parent's everyday context when the parent is not a
 * crisis conversation itself; the therapist's turn follows the crisis protocol: acknowledge,
 * assess safety, give a crisis line (and the emergency number when imminent), encourage human help.
 * Labelled with the intended type and severity; the re-check keeps it only if the safety engine
 * sees that type at that severity or higher.
 */
export const crisisScenario: Strategy = (record, { rng }) => {
  const kind = SCENARIO_KINDS[rng.int(SCENARIO_KINDS.length)] as (typeof SCENARIO_KINDS)[number];
  const statement = rng.pick(L.crisis.statements[kind.type][kind.severity]);
  const parentOpening = isCrisisRecord(record) ? undefined : openingContext(record.messages.find((m) => m.role === 'user')?.content ?? '');
  const user = parentOpening ? `${parentOpening} ${statement}` : statement;
  const imminent = kind.severity === 'IMMINENT';
  const assistant = [
    rng.pick(L.crisis.acknowledgements),
    rng.pick(L.crisis.safetyAssessments),
    ...(imminent ? [rng.pick(L.crisis.imminentResources)] : []),
    rng.pick(L.crisis.resources),
    rng.pick(L.crisis.humanHelp),
  ].join(' ');
  const messages: Message[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
    { role: 'assistant', content: assistant },
  ];
  return {
    messages,
    params: { type: kind.type, severity: kind.severity.toLowerCase(), context: parentOpening ? 'parent-opening' : 'none' },
    intended: { type: kind.type, severity: kind.severity },
  };
};
