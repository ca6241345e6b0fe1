import type { ConversationRecordInput, Message } from '../../contracts';
import { Rng } from '../../util/rng';
import { CRISIS_TYPES, severityLabel, type CrisisType } from '../../contracts/crisis';
import { SYNTHETIC_SEVERITIES, syntheticLexicon, type SyntheticSeverity, type TopicBank } from './lexicon';

/** Label of a conversation known not to be a crisis (its positive twin is `crisis`). */
export const NO_CRISIS_LABEL = 'crisis:none';

/** Bump when the output for a given (seed, index) changes; it is part of the cache key. */
export const GENERATOR_VERSION = '4';

export interface GeneratorOptions {
  seed: number;
  /** Share of conversations that are crisis disclosures, in [0, 1]. */
  crisisShare: number;
  /** Share of conversations with PII in a user turn, in [0, 1]. */
  piiShare: number;
}

/** The kinds of PII the generator plants, with the exact text planted. */
export type PlantedPiiType = 'PERSON' | 'EMAIL_ADDRESS' | 'PHONE_NUMBER' | 'STREET_ADDRESS' | 'DATE_OF_BIRTH' | 'US_SSN' | 'CREDIT_CARD' | 'AGE';
export interface PlantedPii {
  type: PlantedPiiType;
  value: string;
}

const L = syntheticLexicon();
const TOPICS = Object.keys(L.topics);

function fill(template: string, slots: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = slots[name];
    if (value !== undefined) return value;
    const lower = slots[name.charAt(0).toLowerCase() + name.slice(1)];
    if (lower !== undefined) return lower.charAt(0).toUpperCase() + lower.slice(1);
    return whole;
  });
}

function digits(rng: Rng, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String(rng.between(0, 9));
  return out;
}

/** A 16-digit card number starting with 4 whose last digit makes the Luhn sum valid. */
function luhnCard(rng: Rng): string {
  const body = `4${digits(rng, 14)}`;
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  const check = (10 - (sum % 10)) % 10;
  const full = `${body}${check}`;
  return `${full.slice(0, 4)} ${full.slice(4, 8)} ${full.slice(8, 12)} ${full.slice(12)}`;
}

/** An SSN-shaped number that follows the area/group/serial rules (never 000, 666, 9xx). */
function ssn(rng: Rng): string {
  let area = rng.between(1, 899);
  if (area === 666) area = 667;
  const group = rng.between(1, 99);
  const serial = rng.between(1, 9999);
  return `${String(area).padStart(3, '0')}-${String(group).padStart(2, '0')}-${String(serial).padStart(4, '0')}`;
}

function plantPii(rng: Rng): { sentence: string; pii: PlantedPii[] } {
  const first = rng.pick(L.pii.firstNames);
  const last = rng.pick(L.pii.lastNames);
  const kind = rng.weighted(
    ['name', 'email', 'phone', 'address', 'dob', 'ssn', 'card', 'age'] as const,
    [0.25, 0.15, 0.15, 0.12, 0.1, 0.07, 0.06, 0.1],
  );
  switch (kind) {
    case 'name': {
      const who = `${first} ${last}`;
      return { sentence: `By the way, my name is ${who}.`, pii: [{ type: 'PERSON', value: who }] };
    }
    case 'email': {
      const email = `${first.toLowerCase()}.${last.toLowerCase().replace(/[^a-z]/g, '')}${rng.between(1, 99)}@${rng.pick(['example.com', 'example.org', 'example.net'])}`;
      return { sentence: `You can email me at ${email} if that is easier.`, pii: [{ type: 'EMAIL_ADDRESS', value: email }] };
    }
    case 'phone': {
      const phone = `(${rng.pick(L.pii.usAreaCodes)}) ${rng.between(2, 9)}${digits(rng, 2)}-${digits(rng, 4)}`;
      return { sentence: `My number is ${phone}, in case we get cut off.`, pii: [{ type: 'PHONE_NUMBER', value: phone }] };
    }
    case 'address': {
      const address = `${rng.between(10, 9899)} ${rng.pick(L.pii.streets)} ${rng.pick(L.pii.streetSuffixes)}, ${rng.pick(L.pii.cities)}`;
      return { sentence: `I live at ${address}, with my parents.`, pii: [{ type: 'STREET_ADDRESS', value: address }] };
    }
    case 'dob': {
      const dob = `${rng.pick(L.pii.months)} ${rng.between(1, 28)}, ${rng.between(1950, 2006)}`;
      return { sentence: `I was born on ${dob}, if that matters.`, pii: [{ type: 'DATE_OF_BIRTH', value: dob }] };
    }
    case 'ssn': {
      const value = ssn(rng);
      return { sentence: `The insurance form asked for my social security number, ${value}, and I panicked.`, pii: [{ type: 'US_SSN', value }] };
    }
    case 'card': {
      const value = luhnCard(rng);
      return { sentence: `I paid for the session with my card ${value} but I am not sure it went through.`, pii: [{ type: 'CREDIT_CARD', value }] };
    }
    case 'age': {
      const age = String(rng.between(16, 79));
      const who = `${first}`;
      return {
        sentence: `I'm ${who}, I'm ${age} years old.`,
        pii: [
          { type: 'PERSON', value: who },
          { type: 'AGE', value: age },
        ],
      };
    }
  }
}

function userOpening(rng: Rng, topic: string): string {
  const bank = L.topics[topic] as TopicBank;
  return fill(rng.pick(L.openers), {
    concern: rng.pick(bank.concerns),
    duration: rng.pick(L.durations),
    age: rng.pick(['in my twenties', 'in my thirties', 'a student', 'a new parent', 'retired', 'in my forties']),
  });
}

function therapistReply(rng: Rng, topic: string, turn: number): string {
  const bank = L.topics[topic] as TopicBank;
  const parts: string[] = [];
  if (turn === 0 || rng.chance(0.5)) {
    parts.push(fill(rng.pick(L.reflections), { feeling: rng.pick(bank.feelings), duration: rng.pick(L.durations) }));
  }
  if (rng.chance(0.6)) parts.push(rng.pick(L.validations));
  if (turn > 0 && rng.chance(0.5)) parts.push(rng.pick(bank.psychoeducation));
  if (turn > 0 && rng.chance(0.7)) parts.push(rng.pick(bank.techniques));
  if (turn === 0 || rng.chance(0.6)) parts.push(rng.pick(L.openQuestions));
  if (parts.length === 0) parts.push(rng.pick(L.openQuestions));
  return parts.join(' ');
}

function crisisReply(rng: Rng, severity: SyntheticSeverity): string {
  const parts = [rng.pick(L.crisis.acknowledgements), rng.pick(L.crisis.safetyAssessments)];
  if (severity === 'IMMINENT') parts.push(rng.pick(L.crisis.imminentResources));
  parts.push(rng.pick(L.crisis.resources));
  parts.push(rng.pick(L.crisis.humanHelp));
  return parts.join(' ');
}

/**
 * Generates conversation number `index` for the given options. The result depends only on
 * `(options, index)`, so any prefix of a larger run is identical to a smaller run.
 */
export function generateConversation(index: number, options: GeneratorOptions): ConversationRecordInput {
  const rng = new Rng(options.seed, index);
  const messages: Message[] = [];
  const labels: string[] = [];
  const metadata: Record<string, unknown> = { generator: { version: GENERATOR_VERSION, seed: options.seed, index } };
  if (rng.chance(0.4)) messages.push({ role: 'system', content: rng.pick(L.systemPrompts) });

  const isCrisis = rng.chance(options.crisisShare);
  const hasPii = rng.chance(options.piiShare);
  const topic: string = rng.pick(TOPICS);
  let recordTopic: string = topic;

  if (isCrisis) {
    const type: CrisisType = rng.pick(CRISIS_TYPES);
    const severity: SyntheticSeverity = rng.weighted(
      SYNTHETIC_SEVERITIES,
      SYNTHETIC_SEVERITIES.map((s) => L.crisis.severityWeights[s]),
    );
    const statement = rng.pick(L.crisis.statements[type][severity]);
    const lead = rng.chance(0.5) ? `${userOpening(rng, topic)} ` : '';
    const protective = severity !== 'IMMINENT' && rng.chance(0.3) ? ` ${rng.pick(L.crisis.protectiveFactors)}` : '';
    messages.push({ role: 'user', content: `${lead}${statement}${protective}` });
    messages.push({ role: 'assistant', content: crisisReply(rng, severity) });
    if (rng.chance(0.6)) {
      messages.push({ role: 'user', content: rng.pick(L.crisis.followUps[severity]) });
      messages.push({ role: 'assistant', content: rng.pick(L.crisis.secondReplies[severity]) });
    }
    labels.push('crisis', `crisis:${type}`, severityLabel(severity));
    metadata.crisis = { type, severity: severity.toLowerCase(), protectiveFactor: protective !== '' };
    recordTopic = 'crisis';
  } else {
    // An explicit negative, so later stages can measure crisis detection against the truth.
    labels.push(NO_CRISIS_LABEL);
    messages.push({ role: 'user', content: userOpening(rng, topic) });
    const exchanges = rng.between(1, 3);
    for (let turn = 0; turn < exchanges; turn++) {
      if (turn > 0) {
        const bank = L.topics[topic] as TopicBank;
        messages.push({ role: 'user', content: rng.chance(0.5) ? rng.pick(bank.details) : rng.pick(L.userFollowUps) });
      }
      messages.push({ role: 'assistant', content: therapistReply(rng, topic, turn) });
    }
    if (rng.chance(0.5)) {
      messages.push({ role: 'user', content: rng.pick(L.userClosings) });
      messages.push({ role: 'assistant', content: rng.pick(L.assistantClosings) });
    }
    if (rng.chance(0.05)) {
      const negative = rng.pick(L.hardNegatives);
      const first = messages.findIndex((m) => m.role === 'user');
      const target = messages[first] as Message;
      messages[first] = { role: 'user', content: `${target.content} ${negative.text}` };
      metadata.hardNegative = negative.kind;
    }
  }

  if (hasPii) {
    const userTurns = messages.map((m, i) => (m.role === 'user' ? i : -1)).filter((i) => i >= 0);
    const at = rng.pick(userTurns);
    const planted = plantPii(rng);
    const target = messages[at] as Message;
    messages[at] = { role: 'user', content: `${target.content} ${planted.sentence}` };
    labels.push('pii');
    metadata.pii = planted.pii;
  }

  return {
    id: `synthetic-${options.seed}-${index}`,
    source: 'synthetic',
    topic: recordTopic,
    messages,
    ...(labels.length > 0 ? { labels } : {}),
    metadata,
  };
}

/** Yields conversations `start` .. `start + count - 1`. */
export function* generateConversations(count: number, options: GeneratorOptions, start = 0): Generator<ConversationRecordInput> {
  for (let i = start; i < start + count; i++) yield generateConversation(i, options);
}
