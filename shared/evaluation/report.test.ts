import { SamplingConfigSchema, VerdictRulesSchema } from '../contracts';
import { itemScore, losses } from '../../test/evaluation-fixtures';
import { METRICS_GUIDE, deltaChartSvg, prometheusText, reportHtml, type EvaluationReport } from './report';
import { compare, modelFigures } from './score';
import { decide } from './verdict';
import { lossChartSvg } from '../training/loss-chart';

function report(withBaseline = true): EvaluationReport {
  const cand = Array.from({ length: 30 }, (_, i) =>
    itemScore(`item-${i}#1`, {
      scenario: i < 5 ? 'crisis' : i % 2 ? 'grief' : 'anxiety',
      severity: i < 5 ? 'HIGH' : 'NONE',
      protocol: i < 5 ? i !== 2 : undefined,
      failures: i === 2 ? ['crisis_protocol'] : i === 9 ? ['pii_leak'] : [],
      quality: 0.6,
    }),
  );
  const base = Array.from({ length: 30 }, (_, i) =>
    itemScore(`item-${i}#1`, {
      scenario: i < 5 ? 'crisis' : i % 2 ? 'grief' : 'anxiety',
      severity: i < 5 ? 'HIGH' : 'NONE',
      protocol: i < 5 ? true : undefined,
      quality: 0.4,
    }),
  );
  const c = modelFigures(cand, losses(2), { bootstrap: 200 }, 1);
  const b = modelFigures(base, losses(2.4), { bootstrap: 200 }, 1);
  const comparison = compare(cand, base, losses(2), losses(2.4), { bootstrap: 200 }, 1);
  const model = (role: 'candidate' | 'baseline', figures: typeof c) => ({
    role,
    modelUri: `file:///models/<${role}>`,
    modelSha: 'ab'.repeat(32),
    executionProvider: 'cpu',
    responses: 30,
    cutOff: 1,
    figures,
  });
  return {
    kind: 'pixel.evaluation-report',
    version: 1,
    runId: 'run-1',
    createdAt: '2026-11-26T00:00:00.000Z',
    validationSet: {
      manifestUri: 'file:///set/manifest.json',
      records: 30,
      shortfall: 470,
      byScenario: { crisis: 5, anxiety: 13, grief: 12 },
      bySeverity: { HIGH: 5, NONE: 25 },
      crisisShare: 5 / 30,
    },
    sampling: SamplingConfigSchema.parse({}),
    candidate: model('candidate', c),
    baseline: withBaseline ? { ...model('baseline', b), kind: 'base' } : null,
    comparison: withBaseline ? comparison : null,
    verdict: decide(c, withBaseline ? b : null, withBaseline ? comparison : null, VerdictRulesSchema.parse({})),
    review: { itemIds: ['item-0#1', 'item-7#1'], crisis: 1, sampled: 1 },
    guide: METRICS_GUIDE,
  };
}

describe('evaluation report', () => {
  it('renders a self-contained page with the verdict, tables, both charts and the metrics guide', () => {
    const html = reportHtml(
      report(),
      lossChartSvg(
        [
          { step: 1, loss: 3 },
          { step: 2, loss: 2 },
        ],
        [{ step: 2, loss: 2.5 }],
      ),
    );
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('Not better: blocked by safety');
    expect(html).toMatch(/<tr class="fail"><th scope="row">safety\.pii_leak<\/th>/);
    expect(html).toContain('id="loss-curve"');
    expect(html).toContain('id="delta-scenario"');
    expect(html).toContain('id="delta-severity"');
    expect((html.match(/<rect class="bar"/g) ?? []).length).toBeGreaterThan(10);
    expect(html).toContain('What the metrics can and cannot tell');
    // Escaped: nothing from a URI can open a tag; nothing is fetched or run.
    expect(html).toContain('file:///models/&lt;candidate&gt;');
    expect(html).not.toMatch(/<script|<link|src=/);
  });

  it('without a baseline it says there are no comparison charts but still shows the loss curve', () => {
    const html = reportHtml(report(false), lossChartSvg([{ step: 1, loss: 3 }], []));
    expect(html).toContain('id="loss-curve"');
    expect(html).not.toContain('id="delta-scenario"');
    expect(reportHtml(report(false))).toContain('No charts');
  });

  it('writes Prometheus text exposition: HELP and TYPE once per family, escaped labels, finite values', () => {
    const text = prometheusText(report());
    const lines = text.trim().split('\n');
    const names = lines.filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]);
    expect(new Set(names).size).toBe(names.length);
    for (const l of lines.filter((x) => !x.startsWith('#'))) expect(l).toMatch(/^[a-z_]+\{([a-z_]+="(?:[^"\\]|\\.)*",?)+\} -?\d+(\.\d+)?(e-?\d+)?$/);
    expect(text).toContain('pixel_eval_safety_failures{run="run-1",model="candidate",group_kind="all",group="all",check="pii_leak"} 1');
    expect(text).toContain('pixel_eval_verdict_better{run="run-1"} 0');
    expect(text).toMatch(/pixel_eval_test_loss\{run="run-1",model="baseline"\} 2\.4/);
  });

  it('draws deltas on a shared axis centred at zero, with whiskers, and survives empty groups', () => {
    const svg = deltaChartSvg(
      [
        { label: 'a', deltas: [{ metric: 'q', d: { n: 3, mean: 0.2, low: 0.1, high: 0.3 } }] },
        { label: 'b', deltas: [{ metric: 'q', d: { n: 0, mean: Number.NaN, low: Number.NaN, high: Number.NaN } }] },
      ],
      'T <x>',
    );
    expect(svg).toContain('aria-label="T &lt;x&gt;"');
    expect((svg.match(/<rect class="bar"/g) ?? []).length).toBe(1);
    expect(svg).not.toContain('NaN');
  });
});
