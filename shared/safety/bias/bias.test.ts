import { detectBias, groupsMentioned } from './bias';
import { fairnessReport } from './fairness';

describe('detectBias', () => {
  it.each([
    ['Women are too emotional to lead.', 'gender', 'MEDIUM'],
    ['All immigrants are criminals.', 'cultural', 'HIGH'],
    ['Old people are so slow with technology.', 'age', 'MEDIUM'],
    ['Those people are animals.', undefined, undefined],
    ['Refugees are vermin.', 'cultural', 'CRITICAL'],
    ['Poor people are lazy.', 'socioeconomic', 'MEDIUM'],
    ['He is such a retard.', 'ability', 'HIGH'],
    ['All teenagers love their phones.', 'age', 'LOW'],
  ] as const)('%s', (text, type, level) => {
    const findings = detectBias(text);
    if (!type) {
      expect(findings).toEqual([]);
      return;
    }
    expect(findings.map((f) => [f.type, f.level])).toEqual([[type, level]]);
    expect(findings[0]!.explanation).not.toContain(text.slice(0, 10));
  });

  it.each([
    'Many women I work with are brilliant engineers.',
    'My grandmother is 90 and sharp as ever.',
    'Immigrants started a third of new businesses in my town.',
    'I felt lazy today and stayed in bed.',
    'The men in my group were supportive.',
  ])('does not flag a neutral mention: %s', (text) => {
    expect(detectBias(text)).toEqual([]);
  });

  it('lists the groups a text mentions', () => {
    expect(
      groupsMentioned('Teenagers and old people both came.')
        .map((g) => g.group)
        .sort(),
    ).toEqual(['old people', 'teenagers']);
  });

  it('finds a group standing alone after the same letters inside a word, and none inside words only', () => {
    expect(groupsMentioned('Womenswear shops: the women there were kind.').map((g) => g.group)).toEqual(['women']);
    expect(groupsMentioned('A moment of treatment, recommended.')).toEqual([]);
    expect(groupsMentioned('MEN and Women')).toEqual(
      expect.arrayContaining([
        { type: 'gender', group: 'men' },
        { type: 'gender', group: 'women' },
      ]),
    );
  });
});

describe('fairnessReport', () => {
  it('computes representation and the largest parity gap over groups with enough records', () => {
    const records = [
      ...Array.from({ length: 30 }, (_, i) => ({ groups: [{ type: 'gender' as const, group: 'women' }], outcomes: { crisisFlag: i < 6 } })),
      ...Array.from({ length: 30 }, (_, i) => ({ groups: [{ type: 'gender' as const, group: 'men' }], outcomes: { crisisFlag: i < 3 } })),
      ...Array.from({ length: 5 }, () => ({ groups: [{ type: 'age' as const, group: 'teenagers' }], outcomes: { crisisFlag: true } })),
    ];
    const report = fairnessReport(records, 20);
    expect(report.representation).toEqual({ gender: { women: 30, men: 30 }, age: { teenagers: 5 } });
    expect(report.parity.crisisFlag).toEqual({ rates: { women: 0.2, men: 0.1 }, maxGap: 0.1, groups: 2 });
  });
});
