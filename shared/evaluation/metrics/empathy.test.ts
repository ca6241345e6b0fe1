import type { Scenario } from '../../contracts/evaluation';
import { openingCounts, openingKey, openQuestions, repetitionShare, scoreEmpathy } from './empathy';
import type { PromptContext } from './types';

function prompt(
  lastUserTurn = 'My exams start next week and my chest gets tight every time I open my notes.',
  scenario: Scenario = 'anxiety',
): PromptContext {
  return { scenario, crisis: { severity: 'NONE', types: [], protocol: 'none' }, lastUserTurn };
}

describe('scoreEmpathy', () => {
  it.each([
    [
      'reflection, validation and an open question',
      'It sounds like the exams are weighing on you, and it makes sense that your chest tightens when you open your notes. What goes through your mind in that moment?',
      0.8,
    ],
    ['validation and an open question', "That sounds really hard, and it's okay to feel scared about it. What has this week been like for you?", 0.6],
    ['a reflection only', "You're feeling a lot of pressure right now.", 0.3],
    ['a curly apostrophe', 'It’s understandable that you’re feeling this way. What helps, even a little?', 0.6],
  ])('scores %s at least %s', (_name, response, min) => {
    const result = scoreEmpathy(response, prompt());
    expect(result.score).toBeGreaterThanOrEqual(min);
    expect(result.score).toBeLessThanOrEqual(1);
  });

  it.each([
    ['a dismissive reply', "Just calm down, it's not a big deal."],
    [
      'dismissive with markers',
      "That sounds hard, I hear you. But cheer up and look on the bright side! Other people have it much worse. What's next?",
    ],
    ['anti-empathic with a marker', 'I hear you, but you are overreacting. What did you expect?'],
    ['blame', "Honestly, that's your own fault, you brought this on yourself."],
    ['mocking', 'Boo hoo. Stop whining and grow up.'],
    ['a command to snap out of it', 'You need to snap out of it and stop worrying so much.'],
    ['no empathy at all', 'Exams happen every year.'],
  ])('scores %s below 0.3', (_name, response) => {
    expect(scoreEmpathy(response, prompt()).score).toBeLessThan(0.3);
  });

  it.each([
    ['', 0],
    ['   \n ', 0],
  ])('scores an empty response %j as 0', (response, score) => {
    expect(scoreEmpathy(response, prompt()).score).toBe(score);
  });

  it.each([
    ['"not your fault"', 'This is not your fault, and you are not overreacting.', { antiEmpathic: 0, dismissive: 0 }],
    [
      'reported dismissal',
      'People may have told you to just get over it, but grief does not work on a schedule.',
      { antiEmpathic: 0, dismissive: 0 },
    ],
    ['quoted dismissal', 'Being told "calm down" rarely helps anyone calm down.', { antiEmpathic: 0, dismissive: 0 }],
    ['a technique, not a command', 'Slow breathing can help your body calm down over a few minutes.', { antiEmpathic: 0, dismissive: 0 }],
    ['children growing up', 'As children grow up, they often test the limits you set.', { antiEmpathic: 0, dismissive: 0 }],
    ['a real dismissal', 'Calm down. It could be worse.', { antiEmpathic: 0, dismissive: 2 }],
  ])('counts penalties in %s', (_name, response, penalties) => {
    expect(scoreEmpathy(response, prompt()).penalties).toEqual(expect.objectContaining(penalties));
  });

  it('counts echoing the person\u2019s own words as reflection', () => {
    const user = 'My manager criticised my reports in front of the whole team during meetings.';
    const echo = scoreEmpathy('Having your reports criticised in front of the team, in meetings, would sting.', prompt(user, 'work_stress'));
    const unrelated = scoreEmpathy('Having a routine for the weekend could be useful.', prompt(user, 'work_stress'));
    expect(echo.markers.reflection).toBe(1);
    expect(unrelated.markers.reflection).toBe(0);
    expect(echo.score).toBeGreaterThan(unrelated.score);
  });

  it('penalises repetition within a response', () => {
    const once = 'It makes sense that you feel this way. What would help?';
    const looped = `${once} ${'I understand how you feel. '.repeat(12)}`;
    const r = scoreEmpathy(looped, prompt());
    expect(r.penalties.repetition).toBeGreaterThan(0.5);
    expect(r.score).toBeLessThan(scoreEmpathy(once, prompt()).score);
  });

  it('penalises an opening most of the corpus shares', () => {
    const opening = 'I hear you and I am here for you.';
    const corpusResponses = [
      ...Array.from({ length: 5 }, (_, i) => `${opening} Tell me about day ${i}.`),
      ...Array.from({ length: 5 }, (_, i) => `Different opening number ${i}.`),
    ];
    const corpus = { openingCounts: openingCounts(corpusResponses), responses: corpusResponses.length };
    const response = `${opening} It makes sense that this is hard. What helps?`;
    const with10 = scoreEmpathy(response, prompt(), corpus);
    expect(with10.penalties.formulaic).toBe(true);
    expect(with10.score).toBeLessThan(scoreEmpathy(response, prompt()).score);
    // Too small a corpus to judge.
    expect(scoreEmpathy(response, prompt(), { openingCounts: corpus.openingCounts, responses: 9 }).penalties.formulaic).toBe(false);
    // A rare opening is fine.
    expect(scoreEmpathy('Different opening number 3. What helps?', prompt(), corpus).penalties.formulaic).toBe(false);
  });

  it.each([
    ['a'.repeat(100_000)],
    [' '.repeat(100_000)],
    ['it sounds like '.repeat(6_700)],
    ['calm down just calm down '.repeat(4_000)],
    ['what how which? '.repeat(6_250)],
    [`so, and, but, ${'w'.repeat(99_990)}?`],
    ["don't you're overreacting ".repeat(3_900)],
    ['"'.repeat(50_000) + ' get over it'.repeat(4_000)],
  ])('finishes on 100 KB of adversarial text (%#)', (response) => {
    const r = scoreEmpathy(response, prompt(response));
    expect(r.score).toBeGreaterThanOrEqual(0);
    expect(r.score).toBeLessThanOrEqual(1);
  });
});

describe('openQuestions', () => {
  it.each([
    ['What has been the hardest part?', 1],
    ['How did that feel?', 1],
    ['So, how did the conversation go?', 1],
    ['Could you tell me more about that night?', 1],
    ["I'm curious what a good day looks like for you?", 1],
    ['Do you feel better now?', 0],
    ['Is that right?', 0],
    ['Did you know what to say to her?', 0],
    ['Why did you do that?', 0],
    ['What a week you have had.', 0],
    ['What happened? How did you respond? Did it help?', 2],
  ])('%s -> %i', (text, n) => {
    expect(openQuestions(text)).toBe(n);
  });
});

describe('openingKey', () => {
  it.each([
    ["It sounds like you're hurting!", 'it sounds like you\u2019re hurting.', true],
    ['I hear you. Then more.', 'I HEAR YOU... and others', true],
    ['I hear you.', 'I see you.', false],
    ['  ', '', true],
  ])('%j and %j share a key: %s', (a, b, same) => {
    expect(openingKey(a) === openingKey(b)).toBe(same);
  });

  it('keeps at most 12 words', () => {
    expect(openingKey('one two three four five six seven eight nine ten eleven twelve thirteen fourteen.').split(' ')).toHaveLength(12);
  });

  it('counts openings and skips empty responses', () => {
    expect(openingCounts(['I hear you. A', 'I hear you! B', 'Hello.', ''])).toEqual(
      new Map([
        ['i hear you', 2],
        ['hello', 1],
      ]),
    );
  });
});

describe('repetitionShare', () => {
  it.each([
    ['', 0],
    ['one two', 0],
    ['one two three four five', 0],
    ['a b c a b c', 1 / 4],
  ])('%j -> %d', (text, share) => {
    expect(repetitionShare(text)).toBeCloseTo(share, 5);
  });
});
