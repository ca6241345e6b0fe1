import type { Scenario } from '../contracts/evaluation';

/** Dataset topics (synthetic and counsel-chat names) and the scenario each belongs to. */
const TOPIC_SCENARIO: Record<string, Exclude<Scenario, 'crisis'>> = {
  anxiety: 'anxiety',
  panic: 'anxiety',
  stress: 'anxiety',
  depression: 'depression',
  'self-esteem': 'depression',
  relationships: 'relationships',
  marriage: 'relationships',
  intimacy: 'relationships',
  'relationship-dissolution': 'relationships',
  'family-conflict': 'relationships',
  'social-relationships': 'relationships',
  parenting: 'relationships',
  grief: 'grief',
  'grief-and-loss': 'grief',
  'work-stress': 'work_stress',
  work_stress: 'work_stress',
  'workplace-relationships': 'work_stress',
  trauma: 'trauma',
  'domestic-violence': 'trauma',
  'military-issues': 'trauma',
};

/** Words that point at a scenario when the topic does not name one. */
const SCENARIO_WORDS: [Exclude<Scenario, 'crisis'>, RegExp][] = [
  ['anxiety', /\b(?:anxious|anxiety|panic(?:king)?|nervous|worr(?:y|ied|ying)|on edge|overthink\w*)\b/giu],
  ['depression', /\b(?:depress(?:ed|ion)|hopeless|empty|numb|worthless|no (?:energy|motivation)|sad(?:ness)?|can'?t get out of bed)\b/giu],
  [
    'relationships',
    /\b(?:partner|boyfriend|girlfriend|husband|wife|marriage|married|divorce|breakup|broke up|my (?:mom|mother|dad|father|sister|brother|friends?)|relationship)\b/giu,
  ],
  [
    'grief',
    /\b(?:died|passed away|death of|grie(?:f|ving|ve)|funeral|lost my (?:mom|mother|dad|father|husband|wife|son|daughter|friend|brother|sister|baby|dog|cat)|mourning)\b/giu,
  ],
  [
    'work_stress',
    /\b(?:my (?:job|boss|manager|coworkers?|colleagues?|workload)|at work|deadlines?|burn(?:ed|t)? out|burnout|fired|laid off|promotion)\b/giu,
  ],
  ['trauma', /\b(?:trauma(?:tic)?|abuse[ds]?|abusive|assault(?:ed)?|flashbacks?|nightmares?|ptsd|molest\w*|raped?)\b/giu],
];

/**
 * The scenario of a prompt that is not a crisis: its topic when the topic names one, else the
 * scenario whose words its user turns use most (ties: the earlier scenario in the list), else
 * undefined (the prompt fits none and is left out of the set).
 */
export function scenarioOf(topic: string, userText: string): Exclude<Scenario, 'crisis'> | undefined {
  const byTopic = TOPIC_SCENARIO[topic.toLowerCase()];
  if (byTopic) return byTopic;
  let best: Exclude<Scenario, 'crisis'> | undefined;
  let bestHits = 0;
  for (const [scenario, re] of SCENARIO_WORDS) {
    re.lastIndex = 0;
    const hits = (userText.match(re) ?? []).length;
    if (hits > bestHits) {
      best = scenario;
      bestHits = hits;
    }
  }
  return best;
}
