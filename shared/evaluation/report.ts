import type { BaselineKindSchema, EvaluationVerdict, SamplingConfig, ValidationSetManifest } from '../contracts';
import type { z } from 'zod';
import type { Estimate } from './metrics/aggregate';
import type { Comparison, GroupDelta, GroupFigures, ModelFigures } from './score';
import { SAFETY_FAILURES } from './metrics/types';

/** What each metric can and cannot tell, shown in the report beside the figures. */
export const METRICS_GUIDE: { metric: string; tells: string; cannotTell: string }[] = [
  {
    metric: 'Test loss / perplexity',
    tells: 'How well the model predicts the therapists’ replies of held-out conversations (assistant tokens only); lower is better.',
    cannotTell: 'Whether the model’s own replies are safe, kind or clinically sound; comparable only between models sharing a tokenizer.',
  },
  {
    metric: 'Safety pass rate',
    tells:
      'Share of replies with no leaked PII, no medical advice, no boundary violation, no self-harm method, no harmful language or encouragement, and (for crisis prompts) every element of the crisis protocol.',
    cannotTell:
      'Harm phrased in ways the rules do not know; the rules are phrase-based, so a reply can pass by wording and still be unsafe in meaning. Clinicians review every crisis item for this reason. The PII check is strict: on real therapist answers (counsel-chat) it fires on about a fifth, mostly names and websites in signatures, so compare the candidate with the baseline rather than reading the rate alone.',
  },
  {
    metric: 'Crisis protocol rate',
    tells:
      'Among prompts the safety engine rates MODERATE or worse: replies that acknowledge, assess safety, give a crisis line and point to human help (and emergency services when imminent).',
    cannotTell:
      'Whether the elements are delivered with care or in a sensible order; the crisis label of the prompt is itself the engine’s judgement.',
  },
  {
    metric: 'Empathy',
    tells:
      'Markers of empathic wording (reflection of the person’s words, validation, open questions), minus dismissive or blaming language and formulaic, repeated openings.',
    cannotTell: 'Felt empathy, tone, or whether a reflection is accurate.',
  },
  {
    metric: 'Clinical appropriateness',
    tells:
      'Whether the reply names techniques that fit the scenario (grounding for panic, behavioural activation for low mood, …), refers to professional help when the scenario calls for it, and does not diagnose.',
    cannotTell: 'Whether the technique is explained correctly or suits this person; it sees vocabulary, not clinical judgement.',
  },
  {
    metric: 'Confidence intervals',
    tells: '95% percentile bootstrap over items (paired for differences: both models answered the same prompts).',
    cannotTell: 'Whether the validation set represents the people the model will meet; with few items per group the interval is rough.',
  },
];

export interface ModelSummary {
  role: 'candidate' | 'baseline';
  kind?: z.infer<typeof BaselineKindSchema>;
  version?: string;
  modelUri: string;
  modelSha: string;
  executionProvider: string;
  responses: number;
  cutOff: number;
  figures: ModelFigures;
}

/** Everything the evaluation found; written as report.json and rendered as HTML and Prometheus text. */
export interface EvaluationReport {
  kind: 'pixel.evaluation-report';
  version: 1;
  runId: string;
  createdAt: string;
  validationSet: { manifestUri: string } & Pick<ValidationSetManifest, 'records' | 'shortfall' | 'byScenario' | 'bySeverity' | 'crisisShare'>;
  sampling: SamplingConfig;
  candidate: ModelSummary;
  baseline: ModelSummary | null;
  comparison: Comparison | null;
  verdict: EvaluationVerdict;
  review: { itemIds: string[]; crisis: number; sampled: number };
  training?: { lossCurveUri: string };
  guide: typeof METRICS_GUIDE;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3));
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(1)}%`);
const ci = (e: Estimate | null | undefined, fmt: (x: number) => string = f3) =>
  e && Number.isFinite(e.mean) ? `${fmt(e.mean)} <span class="ci">[${fmt(e.low)}, ${fmt(e.high)}]</span>` : '–';
const signed = (x: number) => `${x > 0 ? '+' : ''}${x.toFixed(3)}`;

/**
 * Differences per group as a horizontal bar chart in SVG: one row per group, one bar per metric
 * (candidate minus baseline, on a shared axis centred at 0) with its 95% interval as a whisker.
 */
export function deltaChartSvg(rows: { label: string; deltas: { metric: string; d: Estimate }[] }[], title: string): string {
  const metrics = [...new Set(rows.flatMap((r) => r.deltas.map((d) => d.metric)))];
  const colours = ['#1f77b4', '#2ca02c', '#9467bd', '#d62728', '#ff7f0e'];
  const barH = 10;
  const rowH = metrics.length * (barH + 2) + 14;
  const pad = { left: 130, right: 24, top: 44, bottom: 40 };
  const width = 720;
  const height = pad.top + rows.length * rowH + pad.bottom;
  const extent = Math.max(
    0.05,
    ...rows.flatMap((r) => r.deltas.flatMap((d) => [Math.abs(d.d.low), Math.abs(d.d.high), Math.abs(d.d.mean)]).filter(Number.isFinite)),
  );
  const plotW = width - pad.left - pad.right;
  const sx = (x: number) => pad.left + ((Math.max(-extent, Math.min(extent, x)) + extent) / (2 * extent)) * plotW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(title)}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${pad.left}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  metrics.forEach((m, i) => {
    const x = pad.left + i * 150;
    parts.push(`<rect x="${x}" y="26" width="10" height="10" fill="${colours[i % colours.length]}"/><text x="${x + 14}" y="35">${esc(m)}</text>`);
  });
  parts.push(`<line x1="${sx(0)}" y1="${pad.top}" x2="${sx(0)}" y2="${height - pad.bottom}" stroke="#444"/>`);
  rows.forEach((r, ri) => {
    const y0 = pad.top + ri * rowH;
    parts.push(`<text x="${pad.left - 8}" y="${y0 + rowH / 2 + 4}" text-anchor="end">${esc(r.label)}</text>`);
    r.deltas.forEach((d, mi) => {
      const y = y0 + 6 + metrics.indexOf(d.metric) * (barH + 2);
      if (!Number.isFinite(d.d.mean)) return;
      const a = sx(Math.min(0, d.d.mean));
      const b = sx(Math.max(0, d.d.mean));
      parts.push(
        `<rect class="bar" x="${a.toFixed(1)}" y="${y}" width="${Math.max(1, b - a).toFixed(1)}" height="${barH}" fill="${colours[metrics.indexOf(d.metric) % colours.length]}"><title>${esc(`${r.label} ${d.metric}: ${signed(d.d.mean)} [${f3(d.d.low)}, ${f3(d.d.high)}]`)}</title></rect>`,
      );
      if (Number.isFinite(d.d.low) && Number.isFinite(d.d.high))
        parts.push(`<line x1="${sx(d.d.low).toFixed(1)}" y1="${y + barH / 2}" x2="${sx(d.d.high).toFixed(1)}" y2="${y + barH / 2}" stroke="#222"/>`);
      void mi;
    });
  });
  parts.push(`<text x="${pad.left}" y="${height - 14}">${signed(-extent)}</text>`);
  parts.push(`<text x="${sx(0)}" y="${height - 14}" text-anchor="middle">0 (no change)</text>`);
  parts.push(`<text x="${width - pad.right}" y="${height - 14}" text-anchor="end">${signed(extent)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

const deltaRows = (groups: Partial<Record<string, GroupDelta>>) =>
  Object.entries(groups).map(([label, d]) => ({
    label,
    deltas: [
      { metric: 'quality', d: d!.quality },
      { metric: 'empathy', d: d!.empathy },
      { metric: 'clinical', d: d!.clinical },
      { metric: 'safety pass rate', d: d!.safetyPassRate },
    ],
  }));

function groupTable(
  caption: string,
  candidate: Partial<Record<string, GroupFigures>>,
  baseline: Partial<Record<string, GroupFigures>> | null,
): string {
  const head = `<tr><th scope="col">group</th><th scope="col">items</th><th scope="col">safety pass (candidate)</th>${baseline ? '<th scope="col">safety pass (baseline)</th>' : ''}<th scope="col">crisis protocol (candidate)</th>${baseline ? '<th scope="col">crisis protocol (baseline)</th>' : ''}<th scope="col">empathy (candidate)</th>${baseline ? '<th scope="col">empathy (baseline)</th>' : ''}<th scope="col">clinical (candidate)</th>${baseline ? '<th scope="col">clinical (baseline)</th>' : ''}</tr>`;
  const rows = Object.entries(candidate).map(([k, c]) => {
    const b = baseline?.[k];
    const cell = (x: string) => `<td>${x}</td>`;
    return `<tr><th scope="row">${esc(k)}</th>${cell(String(c!.n))}${cell(ci(c!.safetyPassRate, pct))}${baseline ? cell(ci(b?.safetyPassRate, pct)) : ''}${cell(ci(c!.crisisProtocolRate, pct))}${baseline ? cell(ci(b?.crisisProtocolRate, pct)) : ''}${cell(ci(c!.empathy))}${baseline ? cell(ci(b?.empathy)) : ''}${cell(ci(c!.clinical))}${baseline ? cell(ci(b?.clinical)) : ''}</tr>`;
  });
  return `<table><caption>${esc(caption)}</caption><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * The report as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched):
 * the verdict and its reasons, the models, loss and perplexity, figures per scenario and per
 * crisis severity, the training loss curve, a chart of metric changes per scenario, the failing
 * items (ids only) and what each metric can and cannot tell. No text from the data set or the
 * model's replies is written into it.
 */
export function reportHtml(report: EvaluationReport, lossChartSvg?: string): string {
  const { candidate, baseline, comparison, verdict } = report;
  const c = candidate.figures;
  const b = baseline?.figures ?? null;
  const decision =
    verdict.decision === 'better'
      ? 'Better: may go to expert review for promotion'
      : verdict.safetyBlocked
        ? 'Not better: blocked by safety'
        : 'Not better';
  const reasonRows = verdict.reasons
    .map(
      (r) =>
        `<tr class="${r.passed ? 'pass' : 'fail'}"><th scope="row">${esc(r.rule)}</th><td>${r.passed ? 'pass' : 'fail'}</td><td>${r.blocking ? 'safety (blocks promotion)' : 'improvement'}</td><td>${esc(r.detail)}</td></tr>`,
    )
    .join('');
  const lm = (m: ModelFigures | null) =>
    m?.languageModelling
      ? `<td>${ci(m.languageModelling.loss)}</td><td>${ci(m.languageModelling.perplexity, (x) => x.toFixed(1))}</td><td>${m.languageModelling.conversations}</td><td>${m.languageModelling.tokens}</td>`
      : '<td colspan="4">–</td>';
  const failures = SAFETY_FAILURES.map((f) => {
    const cf = c.overall.failures[f];
    const bf = b?.overall.failures[f];
    return `<tr><th scope="row">${esc(f)}</th><td>${cf.count} (${pct(cf.rate)})</td>${b ? `<td>${bf!.count} (${pct(bf!.rate)})</td>` : ''}<td class="ids">${esc(cf.itemIds.slice(0, 12).join(', '))}${cf.itemIds.length > 12 ? ` … (${cf.itemIds.length - 12} more)` : ''}</td></tr>`;
  }).join('');
  const charts: string[] = [];
  if (lossChartSvg)
    charts.push(
      `<figure id="loss-curve"><div class="chart">${lossChartSvg.replace(/^<svg /, '<svg role="img" aria-label="Training loss curve" ')}</div><figcaption>Training loss per step and validation loss per evaluation (from the fine-tune stage).</figcaption></figure>`,
    );
  if (comparison) {
    charts.push(
      `<figure id="delta-scenario"><div class="chart">${deltaChartSvg(deltaRows({ all: comparison.overall, ...comparison.byScenario }), 'Candidate minus baseline, per scenario (95% CI)')}</div><figcaption>Bars right of 0: the candidate scores higher. Whiskers: paired bootstrap interval.</figcaption></figure>`,
    );
    charts.push(
      `<figure id="delta-severity"><div class="chart">${deltaChartSvg(deltaRows(comparison.bySeverity), 'Candidate minus baseline, per crisis severity (95% CI)')}</div><figcaption>Severity as the safety engine labelled each prompt.</figcaption></figure>`,
    );
  }
  const models = [candidate, ...(baseline ? [baseline] : [])]
    .map(
      (m) =>
        `<tr><th scope="row">${m.role}${m.kind ? ` (${esc(m.kind)}${m.version ? ` ${esc(m.version)}` : ''})` : ''}</th><td class="ids">${esc(m.modelUri)}</td><td class="ids">${m.modelSha.slice(0, 16)}</td><td>${esc(m.executionProvider)}</td><td>${m.responses}</td><td>${m.cutOff}</td></tr>`,
    )
    .join('');
  const vs = report.validationSet;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pixel evaluation: ${esc(report.runId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#111;line-height:1.4}
table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
caption{font-weight:bold;text-align:left;padding:.3rem 0}.ci{color:#555;font-size:.85em}.ids{font-family:monospace;font-size:.85em;word-break:break-all}
tr.fail{background:#fde8e8}tr.pass{background:#eef8ee}.verdict{font-size:1.3rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.verdict.better{background:#d7f5d7}.verdict.not_better{background:#fde0e0}figure{margin:1.5rem 0}.chart svg{max-width:100%;height:auto}
</style>
</head>
<body>
<main>
<h1>Evaluation of run ${esc(report.runId)}</h1>
<p>Created ${esc(report.createdAt)}. ${vs.records} validation prompts (crisis share ${pct(vs.crisisShare)}${vs.shortfall > 0 ? `, ${vs.shortfall} short of the size asked for: the test split had too few` : ''}).</p>
<section aria-labelledby="verdict"><h2 id="verdict">Verdict</h2>
<p class="verdict ${verdict.decision}" role="status">${esc(decision)}</p>
<table><caption>Rules</caption><thead><tr><th scope="col">rule</th><th scope="col">result</th><th scope="col">kind</th><th scope="col">detail</th></tr></thead><tbody>${reasonRows}</tbody></table>
<p>${report.review.itemIds.length} items go to expert review: ${report.review.crisis} crisis items and a stratified sample of ${report.review.sampled}.</p>
</section>
<section aria-labelledby="models"><h2 id="models">Models</h2>
<table><caption>Candidate and baseline</caption><thead><tr><th scope="col">model</th><th scope="col">folder</th><th scope="col">sha256</th><th scope="col">ran on</th><th scope="col">responses</th><th scope="col">cut off at max tokens</th></tr></thead><tbody>${models}</tbody></table>
<p>Sampling: temperature ${report.sampling.temperature}, top-k ${report.sampling.topK}, top-p ${report.sampling.topP}, repetition penalty ${report.sampling.repetitionPenalty}, at most ${report.sampling.maxNewTokens} new tokens, seed ${report.sampling.seed}.</p>
</section>
<section aria-labelledby="charts"><h2 id="charts">Charts</h2>${charts.join('\n') || '<p>No charts: no training curve and no baseline.</p>'}</section>
<section aria-labelledby="lm"><h2 id="lm">Language modelling on the test split</h2>
<table><caption>Loss (nats per assistant token) and perplexity, 95% CI</caption><thead><tr><th scope="col">model</th><th scope="col">loss</th><th scope="col">perplexity</th><th scope="col">conversations</th><th scope="col">tokens</th></tr></thead>
<tbody><tr><th scope="row">candidate</th>${lm(c)}</tr>${b ? `<tr><th scope="row">baseline</th>${lm(b)}</tr>` : ''}</tbody></table>
${comparison?.loss ? `<p>Paired change: ${ci(comparison.loss)} nats per token.</p>` : ''}
</section>
<section aria-labelledby="safety"><h2 id="safety">Safety compliance</h2>
<table><caption>Failing responses by check (item ids)</caption><thead><tr><th scope="col">check</th><th scope="col">candidate</th>${b ? '<th scope="col">baseline</th>' : ''}<th scope="col">candidate’s failing items</th></tr></thead><tbody>${failures}</tbody></table>
</section>
<section aria-labelledby="groups"><h2 id="groups">Per scenario and per crisis severity</h2>
${groupTable('Overall', { all: c.overall }, b ? { all: b.overall } : null)}
${groupTable('Per scenario', c.byScenario, b?.byScenario ?? null)}
${groupTable('Per crisis severity', c.bySeverity, b?.bySeverity ?? null)}
</section>
<section aria-labelledby="guide"><h2 id="guide">What the metrics can and cannot tell</h2>
<table><thead><tr><th scope="col">metric</th><th scope="col">tells</th><th scope="col">cannot tell</th></tr></thead><tbody>${report.guide.map((g) => `<tr><th scope="row">${esc(g.metric)}</th><td>${esc(g.tells)}</td><td>${esc(g.cannotTell)}</td></tr>`).join('')}</tbody></table>
</section>
</main>
</body>
</html>
`;
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The report's figures in the Prometheus text exposition format (gauges, one sample per model and group). */
export function prometheusText(report: EvaluationReport): string {
  const families = new Map<string, { help: string; samples: string[] }>();
  const gauge = (name: string, help: string, labels: Record<string, string>, value: number) => {
    if (!Number.isFinite(value)) return;
    const family = families.get(name) ?? { help, samples: [] };
    families.set(name, family);
    const ls = Object.entries({ run: report.runId, ...labels })
      .map(([k, v]) => `${k}="${label(v)}"`)
      .join(',');
    family.samples.push(`${name}{${ls}} ${value}`);
  };
  for (const m of [report.candidate, ...(report.baseline ? [report.baseline] : [])]) {
    const groups: [string, string, GroupFigures][] = [
      ['all', 'all', m.figures.overall],
      ...Object.entries(m.figures.byScenario).map(([k, g]) => ['scenario', k, g] as [string, string, GroupFigures]),
      ...Object.entries(m.figures.bySeverity).map(([k, g]) => ['severity', k, g] as [string, string, GroupFigures]),
    ];
    for (const [kind, group, g] of groups) {
      const l = { model: m.role, group_kind: kind, group };
      gauge('pixel_eval_items', 'Validation items scored', l, g.n);
      gauge('pixel_eval_safety_pass_rate', 'Share of responses passing every safety check', l, g.safetyPassRate.mean);
      if (g.crisisProtocolRate)
        gauge('pixel_eval_crisis_protocol_rate', 'Share of crisis prompts answered with the full crisis protocol', l, g.crisisProtocolRate.mean);
      gauge('pixel_eval_empathy_score', 'Mean empathy score (0 to 1)', l, g.empathy.mean);
      gauge('pixel_eval_clinical_score', 'Mean clinical appropriateness score (0 to 1)', l, g.clinical.mean);
      gauge('pixel_eval_quality_score', 'Mean of empathy and clinical scores (0 to 1)', l, g.quality.mean);
      for (const f of SAFETY_FAILURES)
        gauge('pixel_eval_safety_failures', 'Responses failing one safety check', { ...l, check: f }, g.failures[f].count);
    }
    const lm = m.figures.languageModelling;
    if (lm) {
      gauge('pixel_eval_test_loss', 'Mean negative log-likelihood per assistant token on the test split (nats)', { model: m.role }, lm.loss.mean);
      gauge('pixel_eval_test_perplexity', 'Perplexity on the test split', { model: m.role }, lm.perplexity.mean);
    }
  }
  gauge('pixel_eval_verdict_better', '1 when the candidate is better and safe, else 0', {}, report.verdict.decision === 'better' ? 1 : 0);
  gauge('pixel_eval_safety_blocked', '1 when a safety rule blocks promotion', {}, report.verdict.safetyBlocked ? 1 : 0);
  gauge('pixel_eval_review_items', 'Items sent to expert review', {}, report.review.itemIds.length);
  return [...families.entries()].map(([name, f]) => `# HELP ${name} ${f.help}\n# TYPE ${name} gauge\n${f.samples.join('\n')}\n`).join('');
}
