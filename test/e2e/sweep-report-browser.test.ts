import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { SweepLeaderboardSchema, type SweepLeaderboard, type SweepTrial } from '../../shared/contracts';
import { sweepReportHtml } from '../../shared/sweep/report';
import { launchBrowser } from '../browser';
import { tempDir } from '../helpers';

const trial = (index: number, status: SweepTrial['status'], rungs: [number, number][], extra: Partial<SweepTrial> = {}): SweepTrial => ({
  index,
  params: { lr: 2e-4 * (index + 1), 'lora.rank': [4, 8, 16][index % 3]!, crisisWeight: 1 + index / 4 },
  status,
  step: rungs.at(-1)?.[0] ?? 0,
  steps: 90,
  rungs: rungs.map(([step, valLoss]) => ({ step, valLoss })),
  ...extra,
});

/** Five completed trials (2, 0 and 3 on the front of valLoss down and quality up), three pruned, one failed, ranked. */
function board(): SweepLeaderboard {
  const trials = [
    trial(
      2,
      'completed',
      [
        [10, 1.5],
        [30, 1.2],
        [90, 1.0],
      ],
      { values: [1.0, 0.5] },
    ),
    trial(
      0,
      'completed',
      [
        [10, 1.6],
        [30, 1.3],
        [90, 1.2],
      ],
      { values: [1.2, 0.6] },
    ),
    trial(
      3,
      'completed',
      [
        [10, 1.7],
        [30, 1.5],
        [90, 1.4],
      ],
      { values: [1.4, 0.7], params: { lr: 1e-3, '<b>x</b>': '<script>alert(1)</script>' } },
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
      8,
      'completed',
      [
        [10, 1.9],
        [30, 1.7],
        [90, 1.6],
      ],
      { values: [1.6, 0.4] },
    ),
    trial(
      6,
      'pruned',
      [
        [10, 1.7],
        [30, 1.65],
      ],
      { reason: 'not in the best third at step 30' },
    ),
    trial(1, 'pruned', [[10, 2.4]], { reason: 'not in the best third at step 10' }),
    trial(7, 'pruned', [[10, 2.6]], { reason: 'not in the best third at step 10' }),
    trial(5, 'failed', [], { step: 20, reason: 'out of memory <img src=x onerror=alert(1)>' }),
  ];
  return SweepLeaderboardSchema.parse({
    name: 'browser <script>alert("sweep")</script>',
    status: 'completed',
    objectives: [
      { name: 'valLoss', direction: 'minimize' },
      { name: 'quality', direction: 'maximize' },
    ],
    budget: 9,
    started: 9,
    counts: { running: 0, paused: 0, pruned: 3, completed: 5, failed: 1 },
    trainSteps: trials.reduce((a, t) => a + t.step, 0),
    fullSteps: trials.reduce((a, t) => a + t.steps, 0),
    trials,
    paretoFront: [0, 2, 3],
    best: { index: 2, params: trials[0]!.params, values: [1.0, 0.5], pipelineInput: {} },
  });
}

/** The sweep report in a real browser: it loads cleanly, draws three charts with the right points, and tabulates every trial. */
describe('sweep report in headless Chromium', () => {
  let t: ReturnType<typeof tempDir>;
  let browser: Browser;
  const b = board();

  beforeAll(async () => {
    t = tempDir();
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    t?.cleanup();
  });

  /** Console errors fail the test. */
  function watch(page: Page): string[] {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    return errors;
  }

  /** The trial numbers of the elements a selector finds, in document order. */
  async function trialsOf(page: Page, selector: string): Promise<number[]> {
    return Promise.all((await page.locator(selector).all()).map(async (e) => Number(await e.getAttribute('data-trial'))));
  }

  it('renders the charts, the best trial and the table', async () => {
    const file = path.join(t.dir, 'sweep-report.html');
    writeFileSync(file, sweepReportHtml('sweep-browser', b));
    const page = await browser.newPage();
    try {
      const errors = watch(page);
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.goto(pathToFileURL(file).href);
      expect(await page.locator('h1').textContent()).toBe('Sweep browser <script>alert("sweep")</script>');

      const charts = page.locator('svg.chart');
      expect(await charts.count()).toBe(3);
      for (let i = 0; i < 3; i++) {
        const box = await charts.nth(i).boundingBox();
        expect(box?.width).toBeGreaterThan(100);
        expect(box?.height).toBeGreaterThan(100);
        expect(await charts.nth(i).getAttribute('role')).toBe('img');
        expect(await charts.nth(i).getAttribute('aria-label')).toBeTruthy();
        expect(await charts.nth(i).locator('> title').textContent()).toBeTruthy();
      }

      // Chart 1: one visible marker per completed trial, the best among them.
      const completed = page.locator('#chart-objective .point.completed');
      expect(await completed.count()).toBe(b.counts.completed);
      for (let i = 0; i < b.counts.completed; i++) expect((await completed.nth(i).boundingBox())?.width).toBeGreaterThan(0);
      expect(await page.locator('#chart-objective .point.best').getAttribute('data-trial')).toBe('2');
      expect(await page.locator('#chart-objective .point.pruned').count()).toBe(b.counts.pruned);

      // Chart 2: a curve per trial with a loss, the best one drawn.
      expect(await page.locator('#chart-curves .curve').count()).toBe(b.trials.filter((x) => x.rungs.length > 0).length);
      expect(await page.locator('#chart-curves .curve.best').getAttribute('data-trial')).toBe('2');

      // Chart 3: exactly the front's points highlighted.
      const front = await trialsOf(page, '#chart-pareto .point.front');
      expect(front.sort((x, y) => x - y)).toEqual(b.paretoFront);
      expect(await page.locator('#chart-pareto .point').count()).toBe(b.counts.completed);
      const line = await page.locator('#chart-pareto .front-line').boundingBox();
      expect(line?.width).toBeGreaterThan(0);

      // The table: one row per trial, in rank order; hostile text shown as text.
      const rows = await trialsOf(page, 'table.trials tbody tr');
      expect(rows).toEqual(b.trials.map((x) => x.index));
      expect(await page.locator('table.trials').textContent()).toContain('<script>alert(1)</script>');
      expect(await page.locator('script, img').count()).toBe(0);

      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
