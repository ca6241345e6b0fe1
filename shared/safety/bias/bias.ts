/**
 * Bias detection: generalisations about a social group ("women are too emotional", "all
 * immigrants ..."), demeaning terms and dehumanising language. Lexicon-based and linear; it finds
 * explicit stereotyping, not subtle bias, and says so in what it reports.
 */

export const BIAS_TYPES = ['gender', 'racial', 'age', 'cultural', 'socioeconomic', 'ability', 'language'] as const;
export type BiasType = (typeof BIAS_TYPES)[number];
export const ALERT_LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];
const LEVEL_RANK: Record<AlertLevel, number> = { LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };

/** Group terms by bias type (plural or generic forms that are used to generalise). */
export const GROUPS: Record<BiasType, string[]> = {
  gender: [
    'women',
    'woman',
    'men',
    'girls',
    'boys',
    'females',
    'males',
    'wives',
    'husbands',
    'mothers',
    'fathers',
    'moms',
    'dads',
    'ladies',
    'gays',
    'gay men',
    'gay people',
    'lesbians',
    'trans people',
    'transgender people',
    'homosexuals',
    'feminists',
  ],
  racial: [
    'black people',
    'blacks',
    'white people',
    'whites',
    'asians',
    'asian people',
    'hispanics',
    'latinos',
    'latinas',
    'africans',
    'african americans',
    'arabs',
    'native americans',
    'indians',
    'people of color',
    'minorities',
  ],
  age: [
    'old people',
    'older people',
    'the elderly',
    'elderly people',
    'seniors',
    'teenagers',
    'teens',
    'young people',
    'millennials',
    'boomers',
    'kids these days',
    'old men',
    'old women',
  ],
  cultural: [
    'immigrants',
    'foreigners',
    'refugees',
    'muslims',
    'christians',
    'jews',
    'jewish people',
    'hindus',
    'atheists',
    'mexicans',
    'americans',
    'chinese people',
    'the chinese',
    'russians',
    'germans',
    'french people',
    'irish people',
    'italians',
    'japanese people',
    'poles',
    'gypsies',
    'roma',
    'southerners',
    'rednecks',
  ],
  socioeconomic: [
    'poor people',
    'the poor',
    'rich people',
    'the rich',
    'homeless people',
    'the homeless',
    'welfare recipients',
    'people on welfare',
    'working class people',
    'trailer park people',
    'uneducated people',
  ],
  ability: [
    'disabled people',
    'the disabled',
    'handicapped people',
    'people in wheelchairs',
    'autistic people',
    'autistics',
    'the mentally ill',
    'mentally ill people',
    'schizophrenics',
    'deaf people',
    'blind people',
    'people with disabilities',
    'addicts',
  ],
  language: ['non-native speakers', 'people with accents', 'foreign speakers', 'people who speak broken english', 'esl students'],
};

/** Traits that make a generalisation demeaning. */
const NEGATIVE_TRAITS = [
  'lazy',
  'stupid',
  'dumb',
  'weak',
  'violent',
  'criminals?',
  'dangerous',
  'dirty',
  'greedy',
  'emotional',
  'hysterical',
  'irrational',
  'inferior',
  'useless',
  'worthless',
  'terrorists?',
  'thieves',
  'liars',
  'cheap',
  'ignorant',
  'uneducated',
  'incompetent',
  'bad at',
  "can'?t (?:drive|be trusted|cook|handle|do)",
  'not (?:smart|capable|able)',
  'a burden',
  'burdens',
  'selfish',
  'aggressive',
  'primitive',
  'savages?',
  'illegal',
  'parasites?',
  'freeloaders?',
  'sluts?',
  'whores?',
  'crazy',
  'psycho',
  'unstable',
  'slow',
];
const DEHUMANISING = [
  'animals',
  'vermin',
  'rats',
  'cockroaches',
  'subhuman',
  'apes',
  'monkeys',
  'a disease',
  'a plague',
  'should (?:be (?:shot|killed|deported|sterili[sz]ed|locked up|eliminated)|die|not exist)',
];
/** Demeaning labels for people (used about a person or a group). */
const DEMEANING_TERMS: Record<BiasType, string[]> = {
  gender: ['bitch(?:es)?', 'tranny', 'trannies', 'fag(?:got)?s?', 'dyke'],
  racial: ['n[i1]gg(?:er|a)s?', 'chinks?', 'spics?', 'wetbacks?', 'gooks?', 'coons?'],
  age: ['geezers?', 'old hags?', 'senile old'],
  cultural: ['ragheads?', 'kikes?', 'towelheads?', 'gypped'],
  socioeconomic: ['trailer trash', 'white trash', 'welfare queens?', 'bums', 'ghetto trash'],
  ability: ['retard(?:s|ed)?', 'cripples?', 'spaz', 'mongoloids?', 'lunatics?', 'psychos'],
  language: ['speak english or', 'broken english'],
};

export interface BiasFinding {
  type: BiasType;
  level: AlertLevel;
  start: number;
  end: number;
  /** Which rule fired and on what kind of phrase; never the matched text. */
  explanation: string;
}

interface Rule {
  type: BiasType;
  level: AlertLevel;
  regex: RegExp;
  explanation: string;
}

function buildRules(): Rule[] {
  const rules: Rule[] = [];
  const neg = NEGATIVE_TRAITS.join('|');
  const dehum = DEHUMANISING.join('|');
  for (const type of BIAS_TYPES) {
    const groups = GROUPS[type].map((g) => g.replace(/[.*+^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s')).join('|');
    // "<groups> are/should/can't ... <dehumanising>" within one clause.
    rules.push({
      type,
      level: 'CRITICAL',
      regex: new RegExp(
        String.raw`\b(?:all\s|most\s|those\s|these\s)?(?:${groups})\s(?:are|is|were|should|deserve|need\sto)\s(?:just\s|all\s|nothing\sbut\s|like\s)?(?:${dehum})\b`,
        'giu',
      ),
      explanation: 'dehumanising statement about a group',
    });
    rules.push({
      type,
      level: 'HIGH',
      regex: new RegExp(
        String.raw`\b(?:all|every|typical|those|these)\s(?:${groups})\s(?:are|is|always|never|can'?t|cannot|just)\s[^.!?,;]{0,30}?\b(?:${neg})\b`,
        'giu',
      ),
      explanation: 'sweeping negative generalisation about a group',
    });
    rules.push({
      type,
      level: 'MEDIUM',
      regex: new RegExp(
        String.raw`\b(?:${groups})\s(?:are|tend\sto\sbe|are\salways|are\snaturally|are\sjust|always|never|can'?t|cannot)\s(?:so\s|too\s|very\s|really\s|all\s|more\s|less\s)?(?:${neg})\b`,
        'giu',
      ),
      explanation: 'negative generalisation about a group',
    });
    rules.push({
      type,
      level: 'LOW',
      regex: new RegExp(String.raw`\b(?:all|typical|every)\s(?:${groups})\s(?:are|always|never|love|hate|like)\b`, 'giu'),
      explanation: 'generalisation about a group',
    });
    const terms = DEMEANING_TERMS[type].join('|');
    rules.push({ type, level: 'HIGH', regex: new RegExp(String.raw`(?<![\p{L}])(?:${terms})(?![\p{L}])`, 'giu'), explanation: 'demeaning term' });
  }
  return rules;
}

const RULES = buildRules();
/** Every group and demeaning term in one pattern: texts without one skip the rules (most texts). */
const ANY_TERM = new RegExp(
  String.raw`\b(?:${[
    ...Object.values(GROUPS)
      .flat()
      .map((g) => g.replace(/ /g, '\\s')),
    ...Object.values(DEMEANING_TERMS).flat(),
  ].join('|')})`,
  'iu',
);

/** Finds stereotyping and demeaning language; overlapping findings keep the highest level. */
export function detectBias(text: string): BiasFinding[] {
  if (!ANY_TERM.test(text)) return [];
  const found: BiasFinding[] = [];
  for (const rule of RULES) {
    rule.regex.lastIndex = 0;
    for (let m = rule.regex.exec(text); m !== null; m = rule.regex.exec(text)) {
      found.push({ type: rule.type, level: rule.level, start: m.index, end: m.index + m[0].length, explanation: rule.explanation });
    }
  }
  found.sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || a.start - b.start);
  const kept: BiasFinding[] = [];
  for (const f of found) if (!kept.some((k) => f.start < k.end && k.start < f.end)) kept.push(f);
  return kept.sort((a, b) => a.start - b.start);
}

/** What to do about each bias type in a training set. */
export const MITIGATIONS: Record<BiasType, string> = {
  gender: 'Balance pronouns and gendered roles; rewrite or drop records that tie traits to a gender; augment with counter-stereotypical examples.',
  racial:
    'Remove racial generalisations; check that crisis and rejection rates do not differ by the racial groups mentioned; add diverse, non-stereotyped examples.',
  age: 'Avoid age-based assumptions about capability; include examples across age groups with the same care.',
  cultural: 'Remove generalisations about nationality or religion; vary cultural contexts without stereotyped pairings.',
  socioeconomic: 'Remove judgements tied to income or housing; include financial stress without blame.',
  ability: 'Replace demeaning terms with person-first language; do not pair disability with incompetence or danger.',
  language: 'Do not equate language proficiency with intelligence; include non-native phrasing respectfully.',
};

/** Every group with its first word (a run of letters), in the order of GROUPS. */
const GROUP_LIST = BIAS_TYPES.flatMap((type) =>
  GROUPS[type].map((group) => ({ type, group, first: group.split(/[^\p{L}]/u)[0] as string, single: /^\p{L}+$/u.test(group) })),
);

/** Whether the UTF-16 unit at `i` is a letter (ASCII without a regex). */
function letterAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
  return /\p{L}/u.test(text.charAt(i));
}

/** The runs of letters of a text, as a set (one pass, no regex over the whole text). */
function letterRuns(text: string): Set<string> {
  const words = new Set<string>();
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && letterAt(text, i)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      words.add(text.slice(start, i));
      start = -1;
    }
  }
  return words;
}

/** Groups a text mentions, by type (for representation balance across a dataset). */
export function groupsMentioned(text: string): { type: BiasType; group: string }[] {
  const lower = text.toLowerCase();
  // A group stands alone only if its first word is a whole run of letters of the text: a set
  // lookup rules out most groups (a 150-way regex alternation here cost 20x more in some runs).
  const words = letterRuns(lower);
  const out: { type: BiasType; group: string }[] = [];
  for (const { type, group, first, single } of GROUP_LIST) {
    if (!words.has(first)) continue;
    if (single) {
      out.push({ type, group });
      continue;
    }
    // Every occurrence until one stands alone ("womenswear" first does not hide "women" later).
    for (let i = lower.indexOf(group); i >= 0; i = lower.indexOf(group, i + 1)) {
      if (!letterAt(lower, i - 1) && !letterAt(lower, i + group.length)) {
        out.push({ type, group });
        break;
      }
    }
  }
  return out;
}
