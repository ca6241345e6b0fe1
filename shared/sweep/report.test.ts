import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { LocalArtifactStore } from '../artifacts';
import { SweepLeaderboardSchema, type SweepLeaderboard, type SweepObjective, type SweepTrial } from '../contracts';
import { fmt, sweepReportHtml, writeSweepReport } from './report';

const TWO: SweepObjective[] = [
  { name: 'valLoss', direction: 'minimize' },
  { name: 'quality', direction: 'maximize' },
];
const HOSTILE_NAME = 'sweep <script>alert("x")</script>';

const trial = (index: number, status: SweepTrial['status'], rungs: [number, number | null][], extra: Partial<SweepTrial> = {}): SweepTrial => ({
  index,
  params: { lr: 1e-4 * (index + 1), 'lora.rank': 8, warmupSteps: index },
  status,
  step: rungs.at(-1)?.[0] ?? 0,
  steps: 90,
  rungs: rungs.map(([step, valLoss]) => ({ step, valLoss })),
  ...extra,
});

/**
 * Four completed trials (0, 2 and 3 on the Pareto front of valLoss down and quality up, 4 dominated
 * by 0), two pruned, one running and one failed, ranked as the leaderboard ranks them.
 */
function board(): SweepLeaderboard {
  const trials: SweepTrial[] = [
    trial(
      2,
      'completed',
      [
        [10, 1.5],
        [30, 1.2],
        [90, 1.0],
      ],
      { values: [1.0, 0.5], metrics: { quality: 0.5 } },
    ),
    trial(
      0,
      'completed',
      [
        [10, 1.6],
        [30, 1.3],
        [90, 1.2],
      ],
      { values: [1.2, 0.6], metrics: { quality: 0.6 } },
    ),
    trial(
      3,
      'completed',
      [
        [10, 1.7],
        [30, 1.5],
        [90, 1.4],
      ],
      {
        values: [1.4, 0.7],
        params: { lr: 3e-3, '<b>bold</b>': '<i>italic</i> & "quoted"', flag: true },
      },
    ),
    trial(
      4,
      'completed',
      [
        [10, 1.8],
        [30, 1.6],
        [90, 1.5],
      ],
      { values: [1.5, 0.55] },
    ),
    trial(
      6,
      'pruned',
      [
        [10, 1.7],
        [30, 1.55],
      ],
      { reason: 'not in the best third at step 30' },
    ),
    trial(7, 'running', [[10, 1.9]]),
    trial(1, 'pruned', [[10, 2.4]], { reason: 'not in the best third at step 10' }),
    trial(5, 'failed', [], { step: 20, reason: 'out of memory <img src=x onerror=alert(1)>' }),
  ];
  return SweepLeaderboardSchema.parse({
    name: HOSTILE_NAME,
    status: 'completed',
    objectives: TWO,
    budget: 8,
    started: 8,
    counts: { running: 1, paused: 0, pruned: 2, completed: 4, failed: 1 },
    trainSteps: trials.reduce((a, t) => a + t.step, 0),
    fullSteps: trials.reduce((a, t) => a + t.steps, 0),
    trials,
    paretoFront: [0, 2, 3],
    best: { index: 2, params: trials[0]!.params, values: [1.0, 0.5], pipelineInput: { train: { config: { lr: 3e-4, note: '</pre><script>' } } } },
  });
}

const empty = (objectives: SweepObjective[] = TWO): SweepLeaderboard => ({
  name: 'empty',
  status: 'preparing',
  objectives,
  budget: 4,
  started: 0,
  counts: { running: 0, paused: 0, pruned: 0, completed: 0, failed: 0 },
  trainSteps: 0,
  fullSteps: 0,
  trials: [],
  paretoFront: [],
  best: null,
});

/** The markup of one chart (its figure). */
function chart(html: string, id: string): string {
  const start = html.indexOf(`<figure id="chart-${id}">`);
  if (start < 0) return '';
  return html.slice(start, html.indexOf('</figure>', start));
}
const count = (text: string, needle: string | RegExp) => text.split(needle).length - 1;
const trialsOf = (svg: string, cls: string) =>
  [...svg.matchAll(new RegExp(`class="${cls}" data-trial="(\\d+)"`, 'g'))].map((m) => Number(m[1])).sort((a, b) => a - b);

function expectWellFormed(html: string, charts: number) {
  expect(html.startsWith('<!doctype html>')).toBe(true);
  expect(html).not.toMatch(/NaN|Infinity|undefined/);
  expect(count(html, '<svg ')).toBe(charts);
  expect(count(html, '</svg>')).toBe(charts);
  for (const svg of html.split('<svg ').slice(1)) {
    expect(svg).toMatch(/^[^>]*role="img"/);
    expect(svg).toMatch(/^[^>]*aria-label="[^"]+"/);
    expect(svg).toMatch(/^[^>]*>\s*<title>[^<]+<\/title>/);
  }
  expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|<style[^>]*src/i);
}

describe('sweep report page', () => {
  it('draws the objective per trial, the learning curves and the Pareto front, and names the best trial', () => {
    const b = board();
    const html = sweepReportHtml('sweep-1', b);
    expectWellFormed(html, 3);

    const objective = chart(html, 'objective');
    expect(objective).toContain('<title>Objective vs trial</title>');
    // Completed trials as dots (the best one highlighted), pruned ones at their last rung, failed and running left out.
    expect(trialsOf(objective, 'point completed')).toEqual([0, 3, 4]);
    expect(trialsOf(objective, 'point completed best')).toEqual([2]);
    expect(trialsOf(objective, 'point pruned')).toEqual([1, 6]);
    expect(objective).not.toMatch(/data-trial="[57]"/);
    expect(objective).toContain('class="best-so-far"');
    expect(objective).toContain('valLoss (lower is better)');
    expect(objective).toMatch(/class="tick-label x"[^>]*>0<\/text>/);

    const curves = chart(html, 'curves');
    expect(curves).toContain('<title>Validation loss by step</title>');
    expect(trialsOf(curves, 'curve completed')).toEqual([0, 3, 4]);
    expect(trialsOf(curves, 'curve completed best')).toEqual([2]);
    expect(trialsOf(curves, 'curve pruned')).toEqual([1, 6]);
    expect(trialsOf(curves, 'curve running')).toEqual([7]);
    expect(curves).toContain('training step');

    const pareto = chart(html, 'pareto');
    expect(pareto).toContain('<title>Pareto front</title>');
    expect(trialsOf(pareto, 'point completed front')).toEqual([0, 3]);
    expect(trialsOf(pareto, 'point completed front best')).toEqual([2]);
    expect(trialsOf(pareto, 'point completed')).toEqual([4]);
    expect(count(pareto, 'class="front-line"')).toBe(1);
    expect(pareto).toContain('quality (higher is better)');

    expect(html).toContain('Best trial: #2');
    expect(html).toContain('completed</span>');
    expect(html).toContain('4 completed, 2 pruned, 1 failed, 1 running');
    expect(html).toContain('Training steps used');
    expect(html).toContain(`${b.trainSteps} of ${b.fullSteps} (${fmt((100 * b.trainSteps) / b.fullSteps)}%)`);
    // One table row per trial, in rank order.
    const rows = [...html.matchAll(/<tr class="trial [^"]*" data-trial="(\d+)"/g)].map((m) => Number(m[1]));
    expect(rows).toEqual(b.trials.map((t) => t.index));
    expect(html).toContain('not in the best third at step 30');
  });

  it('escapes the sweep name, parameter names and values, reasons and the pipeline input', () => {
    const html = sweepReportHtml('sweep-1', board());
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>bold');
    expect(html).not.toContain('<i>italic');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('</pre><script>');
    expect(html).toContain('sweep &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('&lt;i&gt;italic&lt;/i&gt; &amp; &quot;quoted&quot;');
    expect(html).toContain('out of memory &lt;img src=x onerror=alert(1)&gt;');
  });

  it.each([
    ['no trial, two objectives', empty(), 3],
    ['no trial, one objective', empty([TWO[0]!]), 2],
  ])('copes with %s', (_, b, charts) => {
    const html = sweepReportHtml('s', b);
    expectWellFormed(html, charts);
    expect(html).toContain('No completed trial yet');
    expect(html).toContain('0 of 0 (–)');
  });

  it('copes with one trial, equal values and values that are not finite', () => {
    const one = { ...empty(), trials: [trial(0, 'completed', [[90, 1.1]], { values: [1.1, 0.4] })], paretoFront: [0] };
    one.best = { index: 0, params: one.trials[0]!.params, values: [1.1, 0.4], pipelineInput: {} };
    expectWellFormed(sweepReportHtml('s', one), 3);
    expect(trialsOf(chart(sweepReportHtml('s', one), 'pareto'), 'point completed front best')).toEqual([0]);

    const equal = {
      ...empty(),
      trials: [0, 1, 2].map((i) =>
        trial(
          i,
          'completed',
          [
            [10, 2],
            [90, 2],
          ],
          { values: [2, 0.5] },
        ),
      ),
      paretoFront: [0, 1, 2],
    };
    expectWellFormed(sweepReportHtml('s', equal), 3);

    const zero = { ...empty(), trials: [0, 1].map((i) => trial(i, 'completed', [[0, 0]], { steps: 0, values: [0, 0] })), paretoFront: [0, 1] };
    expectWellFormed(sweepReportHtml('s', zero), 3);

    const broken = {
      ...empty(),
      trials: [
        trial(
          0,
          'completed',
          [
            [10, Infinity],
            [90, NaN],
          ],
          { values: [NaN, Infinity] },
        ),
        trial(1, 'pruned', [[10, -Infinity]]),
        trial(
          2,
          'completed',
          [
            [10, 1e308],
            [90, -1e308],
          ],
          { values: [1e308, -1e308] },
        ),
        trial(3, 'completed', [[10, 1]], { values: [1, 2], params: { lr: NaN, x: Infinity } }),
      ],
      paretoFront: [2, 3],
    };
    const html = sweepReportHtml('s', broken);
    expectWellFormed(html, 3);
    expect(trialsOf(chart(html, 'objective'), 'point completed')).toEqual([2, 3]);
  });

  it('with one objective leaves out the Pareto chart; a maximised objective leaves pruned trials out of chart 1', () => {
    const b = { ...board(), objectives: [TWO[1]!], trials: board().trials.map((t) => ({ ...t, values: t.values?.slice(1) })) };
    const html = sweepReportHtml('s', b);
    expectWellFormed(html, 2);
    expect(chart(html, 'pareto')).toBe('');
    const objective = chart(html, 'objective');
    expect(objective).toContain('quality (higher is better)');
    expect(objective).not.toContain('point pruned');
    // The best so far rises: 0.6 (trial 0), then 0.7 (trial 3); trial 2 (0.5) and 4 (0.55) leave it flat.
    const d = /class="best-so-far" d="([^"]+)"/.exec(objective)![1]!;
    expect(d.match(/V/g)).toHaveLength(1);
  });

  it('formats numbers compactly', () => {
    expect([fmt(0), fmt(1.23456), fmt(0.00012345), fmt(1234567), fmt(42), fmt(NaN), fmt(-Infinity), fmt(1e-4)]).toEqual([
      '0',
      '1.235',
      '1.23e-4',
      '1.23e+6',
      '42',
      '–',
      '–',
      '1e-4',
    ]);
  });
});

describe('writeSweepReport', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('writes the leaderboard as JSON and the page as HTML under sweeps/<id>/', async () => {
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const b = board();
    const { reportUri, reportHtmlUri } = await writeSweepReport(store, 'sweep-1@x', b);
    expect(reportUri).toBe(store.uriFor('sweeps/sweep-1@x/sweep-report.json'));
    expect(reportHtmlUri).toBe(store.uriFor('sweeps/sweep-1@x/sweep-report.html'));
    expect(existsSync(path.join(t.dir, 'store', 'sweeps', 'sweep-1@x', 'sweep-report.html'))).toBe(true);
    const json = await store.readText(reportUri);
    expect(json.endsWith('}\n')).toBe(true);
    expect(JSON.parse(json)).toEqual(b);
    expect(await store.readText(reportHtmlUri)).toBe(sweepReportHtml('sweep-1@x', b));
  });
});
