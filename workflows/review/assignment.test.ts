import { ReviewerSchema, type Assignment, type ReviewItemRef, type Reviewer, type ReviewerInput } from '../../shared/contracts';
import { assignItems, pickReplacement } from './assignment';

const NOW = '2024-05-01T09:00:00.000Z';
const reviewer = (id: string, more: Partial<ReviewerInput> = {}): Reviewer => ReviewerSchema.parse({ id, name: `Dr ${id}`, ...more });
const item = (itemId: string, more: Partial<ReviewItemRef> = {}): ReviewItemRef => ({ itemId, scenario: 'anxiety', crisis: false, ...more });
const items = (n: number, more: Partial<ReviewItemRef> = {}): ReviewItemRef[] => Array.from({ length: n }, (_, i) => item(`i${i}`, more));
const assigned = (reviewerId: string, itemId: string, done = false): Assignment => ({
  reviewerId,
  itemId,
  assignedAt: '2024-04-30T00:00:00.000Z',
  reminded: false,
  done,
});
const countBy = (as: readonly Assignment[]): Record<string, number> =>
  as.reduce<Record<string, number>>((m, a) => ({ ...m, [a.reviewerId]: (m[a.reviewerId] ?? 0) + 1 }), {});
const pairs = (as: readonly Assignment[]): string[] => as.map((a) => `${a.itemId}:${a.reviewerId}`);

describe('assignItems', () => {
  it('makes well-formed assignments stamped with the given time', () => {
    const { added, unassigned } = assignItems([item('a')], [reviewer('r1')], [], { perItem: 1, nowIso: NOW });
    expect(added).toEqual([{ reviewerId: 'r1', itemId: 'a', assignedAt: NOW, reminded: false, done: false }]);
    expect(unassigned).toEqual([]);
  });

  it('spreads ties round-robin over the reviewer list', () => {
    const { added } = assignItems(items(4), [reviewer('r1'), reviewer('r2'), reviewer('r3')], [], { perItem: 1, nowIso: NOW });
    expect(pairs(added)).toEqual(['i0:r1', 'i1:r2', 'i2:r3', 'i3:r1']);
  });

  it.each<[string, number, number, Assignment[], Record<string, number>]>([
    ['3 equal reviewers, 10 items × 2', 10, 2, [], { r1: 7, r2: 7, r3: 6 }],
    ['3 equal reviewers, 9 items × 3 (everyone on everything)', 9, 3, [], { r1: 9, r2: 9, r3: 9 }],
    // r1 starts 3 ahead: the others catch up first, then all take turns
    ['one already loaded', 7, 1, [assigned('r1', 'old1'), assigned('r1', 'old2'), assigned('r1', 'old3')], { r1: 1, r2: 3, r3: 3 }],
    // finished work is not load
    ['done assignments are not load', 6, 1, [assigned('r1', 'old1', true), assigned('r1', 'old2', true)], { r1: 2, r2: 2, r3: 2 }],
  ])('balances load: %s', (_name, n, perItem, existing, counts) => {
    const { added, unassigned } = assignItems(items(n), [reviewer('r1'), reviewer('r2'), reviewer('r3')], existing, { perItem, nowIso: NOW });
    expect(unassigned).toEqual([]);
    expect(countBy(added)).toEqual(counts);
    const perReviewerTotal = Object.values(countBy([...existing.filter((a) => !a.done), ...added]));
    expect(Math.max(...perReviewerTotal) - Math.min(...perReviewerTotal)).toBeLessThanOrEqual(1);
  });

  it.each<[string, Reviewer[], Assignment[], Record<string, number>, number]>([
    [
      'capacities 1, 2, 1 for 5 items',
      [reviewer('r1', { capacity: 1 }), reviewer('r2', { capacity: 2 }), reviewer('r3', { capacity: 1 })],
      [],
      { r1: 1, r2: 2, r3: 1 },
      1,
    ],
    [
      'open work counts against capacity',
      [reviewer('r1', { capacity: 2 }), reviewer('r2', { capacity: 2 })],
      [assigned('r1', 'old1'), assigned('r1', 'old2'), assigned('r2', 'old3')],
      { r2: 1 },
      4,
    ],
    [
      'done work does not',
      [reviewer('r1', { capacity: 2 }), reviewer('r2', { capacity: 2 })],
      [assigned('r1', 'old1', true), assigned('r1', 'old2', true)],
      { r1: 2, r2: 2 },
      1,
    ],
  ])('respects capacity: %s', (_name, reviewers, existing, counts, short) => {
    const { added, unassigned } = assignItems(items(5), reviewers, existing, { perItem: 1, nowIso: NOW });
    expect(countBy(added)).toEqual(counts);
    expect(unassigned).toHaveLength(short);
    expect(unassigned[0]!.reason).toMatch(
      /1 more reviewer\(s\) needed and none can take it \(of \d+ such reviewer\(s\): 0 already on the item, 0 unavailable, \d+ at capacity\)/,
    );
    for (const r of reviewers) {
      const open = [...existing, ...added].filter((a) => a.reviewerId === r.id && !a.done).length;
      expect(open).toBeLessThanOrEqual(r.capacity);
    }
  });

  it('skips unavailable reviewers', () => {
    const reviewers = [reviewer('r1', { available: false }), reviewer('r2'), reviewer('r3', { available: false })];
    const { added, unassigned } = assignItems(items(3), reviewers, [], { perItem: 1, nowIso: NOW });
    expect(countBy(added)).toEqual({ r2: 3 });
    expect(unassigned).toEqual([]);
  });

  it('reports items it cannot fill, with the reason, and fills what it can', () => {
    const reviewers = [reviewer('r1'), reviewer('r2', { available: false }), reviewer('r3', { capacity: 1 })];
    const { added, unassigned } = assignItems([item('a')], reviewers, [assigned('r3', 'other')], { perItem: 3, nowIso: NOW });
    expect(pairs(added)).toEqual(['a:r1']);
    expect(unassigned).toEqual([
      {
        itemId: 'a',
        reason:
          '1 of 3 assignee(s): 2 more reviewer(s) needed and none can take it (of 3 such reviewer(s): 1 already on the item, 1 unavailable, 1 at capacity)',
      },
    ]);
  });

  it('counts existing assignees, done or not, and never assigns a reviewer twice to an item', () => {
    const existing = [assigned('r1', 'a', true), assigned('r2', 'a'), assigned('r1', 'b')];
    const { added } = assignItems([item('a'), item('b')], [reviewer('r1'), reviewer('r2'), reviewer('r3')], existing, { perItem: 2, nowIso: NOW });
    expect(pairs(added)).toEqual(['b:r3']);
  });

  it('serves items in order when capacity is short', () => {
    const { added, unassigned } = assignItems([item('z'), item('a')], [reviewer('r1', { capacity: 1 })], [], { perItem: 1, nowIso: NOW });
    expect(pairs(added)).toEqual(['z:r1']);
    expect(unassigned.map((u) => u.itemId)).toEqual(['a']);
  });

  it('assigns by load first, and among equally loaded reviewers prefers the scenario specialist', () => {
    const reviewers = [reviewer('gen'), reviewer('griefy', { specialties: ['grief'] })];
    const busy = [assigned('griefy', 'old1'), assigned('griefy', 'old2')];
    expect(pairs(assignItems([item('g', { scenario: 'grief' }), item('x')], reviewers, busy, { perItem: 1, nowIso: NOW }).added)).toEqual([
      'g:gen',
      'x:gen',
    ]);
    const even = [assigned('griefy', 'old1'), assigned('gen', 'old2')];
    expect(pairs(assignItems([item('g', { scenario: 'grief' })], reviewers, even, { perItem: 1, nowIso: NOW }).added)).toEqual(['g:griefy']);
  });

  describe('crisis items', () => {
    const reviewers = [reviewer('g1'), reviewer('g2'), reviewer('c1', { specialties: ['crisis', 'general'] })];

    it('take a crisis specialist first, even a busier one', () => {
      const existing = [assigned('c1', 'old1'), assigned('c1', 'old2')];
      const { added } = assignItems([item('k', { crisis: true })], reviewers, existing, { perItem: 2, nowIso: NOW });
      expect(pairs(added)).toEqual(['k:c1', 'k:g1']);
    });

    it('need no second specialist once one is on the item', () => {
      const existing = [assigned('c1', 'k', true)];
      const { added } = assignItems([item('k', { crisis: true })], reviewers, existing, { perItem: 2, nowIso: NOW });
      expect(pairs(added)).toEqual(['k:g1']);
    });

    it.each<[string, Reviewer[], number, string[], RegExp]>([
      [
        'specialist at capacity, 2 seats',
        [reviewer('g1'), reviewer('g2'), reviewer('c1', { specialties: ['crisis'], capacity: 1 })],
        2,
        ['k:g1'],
        /1 at capacity\); that seat stays empty$/,
      ],
      [
        'specialist unavailable, 1 seat',
        [reviewer('g1'), reviewer('c1', { specialties: ['crisis'], available: false })],
        1,
        [],
        /1 unavailable, 0 at capacity\); that seat stays empty$/,
      ],
      ['no specialist at all', [reviewer('g1'), reviewer('g2')], 2, ['k:g1'], /none can take it \(no such reviewer in the registry\)/],
    ])('keep a seat for a specialist when none can take it: %s', (_name, rs, perItem, expected, reason) => {
      const existing = [assigned('c1', 'busy')];
      const { added, unassigned } = assignItems([item('k', { crisis: true })], rs, existing, { perItem, nowIso: NOW });
      expect(pairs(added)).toEqual(expected);
      expect(unassigned).toHaveLength(1);
      expect(unassigned[0]!.reason).toMatch(/crisis item needs a crisis specialist first/);
      expect(unassigned[0]!.reason).toMatch(reason);
    });

    it('fill the kept seat with a specialist on a later call', () => {
      const rs = [reviewer('g1'), reviewer('g2'), reviewer('c1', { specialties: ['crisis'], capacity: 1 })];
      const first = assignItems([item('k', { crisis: true })], rs, [assigned('c1', 'busy')], { perItem: 2, nowIso: NOW });
      const later = assignItems([item('k', { crisis: true })], rs, [assigned('c1', 'busy', true), ...first.added], { perItem: 2, nowIso: NOW });
      expect(pairs(later.added)).toEqual(['k:c1']);
      expect(later.unassigned).toEqual([]);
    });
  });

  it('is deterministic: the same input gives the same output', () => {
    const reviewers = [
      reviewer('a', { capacity: 4 }),
      reviewer('b', { specialties: ['crisis'] }),
      reviewer('c', { specialties: ['grief'] }),
      reviewer('d'),
    ];
    const list = [
      ...items(6),
      item('k1', { crisis: true }),
      item('g1', { scenario: 'grief' }),
      ...items(3, { scenario: 'trauma' }).map((i, n) => ({ ...i, itemId: `t${n}` })),
    ];
    const existing = [assigned('a', 'i0'), assigned('d', 'old', true)];
    const once = assignItems(list, reviewers, existing, { perItem: 2, nowIso: NOW });
    const again = assignItems(list, reviewers, existing, { perItem: 2, nowIso: NOW });
    expect(again).toEqual(once);
    expect(once.added.length + existing.filter((a) => list.some((i) => i.itemId === a.itemId)).length).toBe(list.length * 2);
  });

  it('does nothing when every item is full or perItem is 0', () => {
    expect(assignItems([item('a')], [reviewer('r1')], [assigned('r9', 'a')], { perItem: 1, nowIso: NOW })).toEqual({ added: [], unassigned: [] });
    expect(assignItems([item('a')], [reviewer('r1')], [], { perItem: 0, nowIso: NOW })).toEqual({ added: [], unassigned: [] });
  });
});

describe('pickReplacement', () => {
  const crisisItem = item('k', { crisis: true });
  it.each<[string, ReviewItemRef, string, Reviewer[], Assignment[], string | undefined]>([
    [
      'least loaded other reviewer',
      item('a'),
      'r1',
      [reviewer('r1'), reviewer('r2'), reviewer('r3')],
      [assigned('r1', 'a'), assigned('r2', 'x')],
      'r3',
    ],
    ['list order breaks ties', item('a'), 'r1', [reviewer('r1'), reviewer('r2'), reviewer('r3')], [assigned('r1', 'a')], 'r2'],
    [
      'never from itself, nor someone on the item',
      item('a'),
      'r1',
      [reviewer('r1'), reviewer('r2')],
      [assigned('r1', 'a'), assigned('r2', 'a', true)],
      undefined,
    ],
    ['skips the unavailable', item('a'), 'r1', [reviewer('r1'), reviewer('r2', { available: false }), reviewer('r3')], [assigned('r1', 'a')], 'r3'],
    [
      'skips those at capacity',
      item('a'),
      'r1',
      [reviewer('r1'), reviewer('r2', { capacity: 1 }), reviewer('r3')],
      [assigned('r1', 'a'), assigned('r2', 'x')],
      'r3',
    ],
    [
      'prefers the scenario specialist among the equally loaded',
      item('g', { scenario: 'grief' }),
      'r1',
      [reviewer('r1'), reviewer('r2'), reviewer('r3', { specialties: ['grief'] })],
      [assigned('r3', 'x'), assigned('r2', 'y')],
      'r3',
    ],
    [
      'takes the less loaded over the specialist',
      item('g', { scenario: 'grief' }),
      'r1',
      [reviewer('r1'), reviewer('r2'), reviewer('r3', { specialties: ['grief'] })],
      [assigned('r3', 'x')],
      'r2',
    ],
    ['works when from no longer holds the item', item('a'), 'r1', [reviewer('r1'), reviewer('r2')], [], 'r2'],
    // crisis specialist constraint
    [
      'only crisis specialist leaves: a specialist replaces',
      crisisItem,
      'c1',
      [reviewer('g1'), reviewer('c1', { specialties: ['crisis'] }), reviewer('c2', { specialties: ['crisis'] })],
      [assigned('c1', 'k'), assigned('c2', 'x'), assigned('c2', 'y')],
      'c2',
    ],
    [
      'only crisis specialist leaves and none is free: nobody',
      crisisItem,
      'c1',
      [reviewer('g1'), reviewer('c1', { specialties: ['crisis'] }), reviewer('c2', { specialties: ['crisis'], available: false })],
      [assigned('c1', 'k')],
      undefined,
    ],
    [
      'another specialist stays on the item: anyone',
      crisisItem,
      'c1',
      [
        reviewer('g1'),
        reviewer('c1', { specialties: ['crisis'] }),
        reviewer('c2', { specialties: ['crisis'] }),
        reviewer('c3', { specialties: ['crisis'] }),
      ],
      [assigned('c1', 'k'), assigned('c2', 'k')],
      'g1',
    ],
    [
      'a generalist leaves a crisis item with no specialist: a specialist is preferred',
      crisisItem,
      'g1',
      [reviewer('g1'), reviewer('g2'), reviewer('c1', { specialties: ['crisis'] })],
      [assigned('g1', 'k'), assigned('c1', 'x')],
      'c1',
    ],
    [
      '... but a generalist will do when no specialist is free',
      crisisItem,
      'g1',
      [reviewer('g1'), reviewer('g2'), reviewer('c1', { specialties: ['crisis'], capacity: 1 })],
      [assigned('g1', 'k'), assigned('c1', 'x')],
      'g2',
    ],
  ])('%s', (_name, it_, from, reviewers, existing, expected) => {
    expect(pickReplacement(it_, from, reviewers, existing)).toBe(expected);
  });
});
