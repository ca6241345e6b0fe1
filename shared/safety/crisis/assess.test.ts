import fc from 'fast-check';
import { assessCrisis } from './assess';
import { expectLinear } from '../../../test/linear-time';
import { INDICATORS, TRIGGERS } from './indicators';
import { parsePythonStringList, quadraticKappa } from './cssrs-eval';

describe('assessCrisis', () => {
  it.each([
    // [text, severity, types, timeline]
    ['Sometimes I wish I could go to sleep and never wake up.', 'LOW', ['suicidal_ideation'], 'ongoing'],
    ['I have been having thoughts about killing myself.', 'MODERATE', ['suicidal_ideation'], 'ongoing'],
    ['I keep looking up ways to kill myself.', 'HIGH', ['suicidal_ideation'], 'ongoing'],
    ["I'm going to kill myself.", 'HIGH', ['suicidal_ideation'], 'ongoing'],
    ["I'm going to kill myself tonight.", 'IMMINENT', ['suicidal_ideation'], 'immediate'],
    ['I wrote my goodbye letters today.', 'IMMINENT', ['suicidal_ideation'], 'immediate'],
    ['I took a handful of pills with vodka and feel strange.', 'IMMINENT', ['suicidal_ideation'], 'ongoing'],
    ['I have been cutting myself again when it gets bad.', 'MODERATE', ['self_harm'], 'ongoing'],
    ['The voices are telling me to jump.', 'HIGH', ['psychosis'], 'ongoing'],
    ["I'm going to hurt him when he gets home.", 'HIGH', ['violence'], 'ongoing'],
    ["I can't stop drinking and I get the shakes in the morning.", 'MODERATE', ['substance_abuse'], 'ongoing'],
    ['I feel completely hopeless.', 'LOW', ['severe_depression'], 'ongoing'],
    ["I'm having a panic attack and can't breathe.", 'LOW', ['panic'], 'ongoing'],
    ['Honestly I would rather be dead than go back there.', 'LOW', ['suicidal_ideation'], 'ongoing'],
    ['Im thinking about ending it all.', 'MODERATE', ['suicidal_ideation'], 'ongoing'],
    ['Lately I sat with the pistol against my temple for a while.', 'HIGH', ['suicidal_ideation'], 'ongoing'],
    ['This is my final post, goodbye everyone.', 'IMMINENT', ['suicidal_ideation'], 'ongoing'],
  ] as const)('%s -> %s', (text, severity, types, timeline) => {
    const a = assessCrisis(text);
    expect(a.severity).toBe(severity);
    expect(a.types).toEqual(types);
    expect(a.timeline).toBe(timeline);
    expect(a.indicators.length).toBeGreaterThan(0);
    for (const i of a.indicators) expect(i.end).toBeGreaterThan(i.start);
  });

  it.each([
    // Near misses: crisis words that are not a crisis, and why.
    ['I would never hurt myself, I just feel stuck.', 'negated'],
    ['I would never end my life over a job, I just want a shorter commute.', 'negated'],
    ['My friend said she wants to die after the breakup.', 'third_person'],
    ['How can I help my brother who is suicidal?', 'helping_others'],
    ['If you ever feel suicidal, please reach out.', 'second_person'],
    ['You deserve to die? No, you deserve help.', 'second_person'],
    ['Call the suicide hotline, they are kind.', 'resource'],
    ['We lost my uncle to suicide last spring.', 'third_person'],
    ['This exam is killing me.', undefined],
    ['I nearly died of embarrassment in that meeting.', undefined],
    ['I could murder a pizza right now.', undefined],
    ['I am dying to see that film.', undefined],
  ] as const)('%s is not a crisis', (text, reason) => {
    const a = assessCrisis(text);
    expect(a.severity).toBe('NONE');
    expect(a.protocol.name).toBe('none');
    if (reason) expect(a.suppressed.map((s) => s.reason)).toContain(reason);
  });

  it('keeps the topic named in general as a LOW mention, not as active thoughts', () => {
    const a = assessCrisis('Suicide is never the answer.');
    expect(a.severity).toBe('LOW');
    expect(a.indicators.map((i) => [i.rung, i.mention])).toEqual([['distress', true]]);
    expect(assessCrisis('I am suicidal.').severity).toBe('MODERATE');
  });

  it('counts a past, resolved event as history only', () => {
    const a = assessCrisis('Years ago I tried to kill myself, but I have been well for a long time now.');
    expect(a.severity).toBe('LOW');
    expect(a.indicators[0]?.past).toBe(true);
  });

  it('reports protective factors and lowers confidence, not the level explicit intent sets', () => {
    const bare = assessCrisis("I'm going to kill myself.");
    const supported = assessCrisis("I'm going to kill myself. My sister checks on me every day and my kids need me.");
    expect(supported.severity).toBe(bare.severity);
    expect(supported.protectiveFactors.map((p) => p.id).sort()).toEqual(['responsibilities', 'support']);
    expect(supported.confidence).toBeLessThanOrEqual(bare.confidence);
    expect(supported.confidence).toBeGreaterThanOrEqual(0.8);
  });

  it('recommends a response protocol by severity', () => {
    expect(assessCrisis("I'm going to kill myself tonight.").protocol.actions.join(' ')).toMatch(/escalate to a human/);
    expect(assessCrisis('I keep looking up ways to kill myself.').protocol.name).toBe('crisis_line');
    expect(assessCrisis('I have been having thoughts about killing myself.').protocol.name).toBe('assess');
  });

  it('runs in linear time on near-matches for every indicator (25 KB to 100 KB)', () => {
    // The last three are long unpunctuated sentences full of matches: each match's checks read a
    // bounded window of its sentence, and whole-sentence facts are read once per sentence.
    for (const unit of [
      'kill ',
      'i want to ',
      'not ',
      'my friend ',
      'voices ',
      'I want to kill myself ',
      'my friend wants to die ',
      'tonight I will end it ',
    ]) {
      expectLinear(
        (text) => assessCrisis(text),
        (n) => unit.repeat(Math.ceil(n / unit.length)),
      );
    }
    expect(INDICATORS.length).toBeGreaterThan(10);
  });

  it('assesses a 1 MB message without punctuation (the default line limit) in one pass, judging each match in its own clause', () => {
    const unit = 'I want to kill myself ';
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const a = assessCrisis(text);
    expect(a.indicators.length).toBeGreaterThan(40_000);
    expect(a.severity).toBe(assessCrisis(unit).severity);
    // A negation or someone else far back in the same sentence does not reach a match; one just before it does.
    const far = `my friend said she ${'x'.repeat(200)} I want to kill myself`;
    expect(assessCrisis(far).indicators).toHaveLength(1);
    expect(assessCrisis('my friend said she wants to kill herself').indicators).toHaveLength(0);
  }, 60_000);
});

describe('C-SSRS helpers', () => {
  it.each([
    ["['a', 'b']", ['a', 'b']],
    [`["it's", 'x']`, ["it's", 'x']],
    ["['cut at the lim", ['cut at the lim']],
    ['[]', []],
    ['not a list', undefined],
  ])('parses %s', (text, expected) => {
    expect(parsePythonStringList(text)).toEqual(expected);
  });

  it('computes quadratic-weighted kappa', () => {
    expect(quadraticKappa([0, 1, 2, 3], [0, 1, 2, 3], 4)).toBe(1);
    expect(quadraticKappa([0, 0, 3, 3], [3, 3, 0, 0], 4)).toBeLessThan(0);
  });
});

describe('crisis triggers', () => {
  /**
   * The indicator's regex as fast-check can sample from: `\b` and negative lookaheads removed (a
   * superset of what the indicator matches, so every sample must still pass the prefilter).
   */
  function samplable(source: string): RegExp {
    let text = source.replace(/\\b/g, '');
    for (let start = text.indexOf('(?!'); start >= 0; start = text.indexOf('(?!')) {
      let depth = 0;
      let end = start;
      for (; end < text.length; end++) {
        if (text[end] === '\\') end++;
        else if (text[end] === '(') depth++;
        else if (text[end] === ')' && --depth === 0) break;
      }
      text = text.slice(0, start) + text.slice(end + 1);
    }
    return new RegExp(`^(?:${text})$`);
  }

  it.each(INDICATORS.map((i) => [i.id, i] as const))('every text %s matches passes the trigger prefilter', (_id, indicator) => {
    const samples = fc.sample(fc.stringMatching(samplable(indicator.regex.source)), { numRuns: 400, seed: 7 });
    expect(samples.filter((s) => !TRIGGERS.test(s))).toEqual([]);
  });

  it.each([
    ['I keep hearing things at night.', 'psychosis'],
    ['Everyone is after me, I can tell.', 'psychosis'],
    ['I wish I was not around anymore.', 'suicidal_ideation'],
    ['Sometimes I just want it all to be over.', 'suicidal_ideation'],
  ] as const)('assesses %s (once missed by the prefilter)', (text, type) => {
    expect(assessCrisis(text).types).toContain(type);
  });
});
