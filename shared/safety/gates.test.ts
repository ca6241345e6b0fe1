import { checkGates, countLetters, type Speaker } from './gates';

describe('checkGates', () => {
  it.each([
    ['This is fucking hard.', 'user', [['profanity', 'INFO']]],
    ['That is fucking hard for you.', 'assistant', [['profanity', 'ERROR']]],
    ['The lethal dose of it is about ten grams.', 'any', [['self_harm_method', 'CRITICAL']]],
    ['You should take 50 mg of sertraline tonight.', 'assistant', [['medical_advice', 'ERROR']]],
    ['You can stop taking your medication now.', 'assistant', [['medical_advice', 'ERROR']]],
    ['You clearly have bipolar disorder.', 'assistant', [['medical_advice', 'ERROR']]],
    ["Let's meet for coffee after the session.", 'assistant', [['boundary_violation', 'ERROR']]],
    ['All immigrants are criminals.', 'any', [['hate_harassment', 'ERROR']]],
    ['   ', 'any', [['empty_or_incoherent', 'ERROR']]],
    ['!!!!!!!!!!!!!!!!!!!!!!!!!!', 'any', [['empty_or_incoherent', 'WARNING']]],
  ] as [string, Speaker, [string, string][]][])('%s (%s)', (text, speaker, expected) => {
    expect(checkGates(text, speaker).map((g) => [g.gate, g.severity])).toEqual(expected);
  });

  it.each([
    ['Please talk to your prescriber before you stop your medication.', 'assistant'],
    ['It sounds like mornings are hard. What helps a little?', 'assistant'],
    ['My doctor increased my dose last week.', 'user'],
    ['I would like to meet my friends more often.', 'user'],
    ['If you are thinking about suicide, please call 988.', 'assistant'],
  ] as [string, Speaker][])('passes a near miss: %s', (text, speaker) => {
    expect(checkGates(text, speaker)).toEqual([]);
  });

  it('gives every finding a recommendation', () => {
    for (const g of checkGates('You should take 50 mg of xanax, fucking hell.', 'assistant')) expect(g.recommendation.length).toBeGreaterThan(10);
  });
});

describe('countLetters', () => {
  it.each([
    ['', 0],
    ['Hello, world! 123', 10],
    ['Café déjà vu', 10],
    ['Ελληνικά και English', 18],
    ['𝐀𝐁 ab', 4],
    ['日本語のテキスト', 8],
    ['!!!???', 0],
  ])('counts the letters of %j as %d', (text, n) => {
    expect(countLetters(text)).toBe(n);
    expect(countLetters(text)).toBe((text.match(/\p{L}/gu) ?? []).length);
  });
});
