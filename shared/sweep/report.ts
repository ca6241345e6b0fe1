import type { ArtifactStore } from '../artifacts';
import type { SweepLeaderboard, SweepObjective, SweepTrial } from '../contracts';

/** Text for HTML and SVG, attributes included: names, parameters and reasons can come from users. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** A number for people: 4 significant digits, exponent form for the very small and the very large, '–' when not finite. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e6) return x.toExponential(2).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(4)));
}

/** A coordinate for SVG: never NaN or Infinity. */
const n = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0');

const paramValue = (v: string | number | boolean) => (typeof v === 'number' ? fmt(v) : esc(String(v)));
const better = (o: SweepObjective) => (o.direction === 'minimize' ? 'lower is better' : 'higher is better');
const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** Rungs with a finite validation loss. */
const curve = (t: SweepTrial) => t.rungs.filter((r): r is { step: number; valLoss: number } => finite(r.valLoss));

/** The domain a set of values is drawn on: padded 5%, widened around a single value, [0, 1] with none. */
function extent(values: readonly number[], pad = 0.05): [number, number] {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return [0, 1];
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) {
    const d = Math.abs(lo) * 0.1 || 1;
    return [lo - d, hi + d].map((x) => Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, x))) as [number, number];
  }
  lo -= span * pad;
  hi += span * pad;
  return [Math.max(-Number.MAX_VALUE, lo), Math.min(Number.MAX_VALUE, hi)];
}

/** Round tick values between lo and hi (about `count` of them); just the ends where no round step fits. */
function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (!(step > 0) || !Number.isFinite(step) || span / step > 50) return [lo, hi];
  const out: number[] = [];
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  x: (v: number) => number;
  y: (v: number) => number;
}

/** A linear map of [lo, hi] onto [a, b], clamped to the range. */
function scale([lo, hi]: [number, number], a: number, b: number): (v: number) => number {
  const span = hi - lo;
  return (v) => {
    const u = span > 0 && Number.isFinite(span) ? (v - lo) / span : 0.5;
    return a + (Number.isFinite(u) ? Math.max(0, Math.min(1, u)) : 0.5) * (b - a);
  };
}

function frame(xDomain: [number, number], yDomain: [number, number]): Frame {
  const width = 760;
  const height = 380;
  const left = 78;
  const right = width - 24;
  const top = 52;
  const bottom = height - 56;
  return { width, height, left, right, top, bottom, x: scale(xDomain, left, right), y: scale(yDomain, bottom, top) };
}

/** The opening of a chart: the svg element with its title and label, the plot area, axes with ticks and labels. */
function chartStart(
  f: Frame,
  o: {
    id: string;
    title: string;
    description: string;
    xDomain: [number, number];
    yDomain: [number, number];
    xLabel: string;
    yLabel: string;
    xInteger?: boolean;
  },
): string[] {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${o.id}" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(`${o.title}: ${o.description}`)}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${esc(o.title)}</title>`,
    `<desc>${esc(o.description)}</desc>`,
    `<rect width="${f.width}" height="${f.height}" fill="#fff"/>`,
    `<text x="${f.left}" y="20" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
    `<rect class="plot" x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="#fafafa" stroke="#bbb"/>`,
  ];
  const xt = ticks(...o.xDomain, 8).filter((t) => !o.xInteger || Number.isInteger(t));
  for (const t of xt) {
    const x = n(f.x(t));
    parts.push(
      `<line class="tick" x1="${x}" y1="${f.top}" x2="${x}" y2="${f.bottom}" stroke="#eee"/><line x1="${x}" y1="${f.bottom}" x2="${x}" y2="${f.bottom + 5}" stroke="#555"/><text class="tick-label x" x="${x}" y="${f.bottom + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(...o.yDomain, 6)) {
    const y = n(f.y(t));
    parts.push(
      `<line class="tick" x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#eee"/><line x1="${f.left - 5}" y1="${y}" x2="${f.left}" y2="${y}" stroke="#555"/><text class="tick-label y" x="${f.left - 8}" y="${n(f.y(t) + 4)}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<text class="axis-label x" x="${n((f.left + f.right) / 2)}" y="${f.height - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text class="axis-label y" transform="translate(16 ${n((f.top + f.bottom) / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  return parts;
}

/** A legend row above the plot: [swatch markup, label] pairs. */
function legend(f: Frame, items: [string, string][]): string {
  let x = f.left;
  return items
    .map(([swatch, label]) => {
      const out = `<g class="legend" transform="translate(${x} 38)">${swatch}<text x="16" y="4">${esc(label)}</text></g>`;
      x += 40 + label.length * 7;
      return out;
    })
    .join('');
}

const noData = (f: Frame, text: string) =>
  `<text class="no-data" x="${n((f.left + f.right) / 2)}" y="${n((f.top + f.bottom) / 2)}" text-anchor="middle" fill="#777">${esc(text)}</text>`;

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#d62728'];
const colour = (index: number) => PALETTE[index % PALETTE.length]!;
const BEST = '#d62728';
const GREY = '#9a9a9a';

/** The last finite validation loss a trial reached. */
const lastLoss = (t: SweepTrial) => curve(t).at(-1);

/**
 * Chart 1: the first objective per trial in trial order: completed trials as dots, pruned ones
 * (when the objective is the validation loss) as hollow grey rings at their last rung, the best so
 * far as a step line and the best trial highlighted.
 */
export function objectiveChartSvg(board: SweepLeaderboard): string {
  const o = board.objectives[0] ?? { name: 'objective', direction: 'minimize' as const };
  const bestIndex = board.best?.index;
  const completed = board.trials
    .filter((t) => t.status === 'completed' && finite(t.values?.[0]))
    .map((t) => ({ t, v: t.values![0]! }))
    .sort((a, b) => a.t.index - b.t.index);
  const pruned =
    o.name === 'valLoss'
      ? board.trials
          .filter((t) => t.status === 'pruned' && lastLoss(t))
          .map((t) => ({ t, v: lastLoss(t)!.valLoss, step: lastLoss(t)!.step }))
          .sort((a, b) => a.t.index - b.t.index)
      : [];
  const indices = [...completed, ...pruned].map((p) => p.t.index);
  const xDomain: [number, number] = indices.length ? [Math.min(...indices) - 0.5, Math.max(...indices) + 0.5] : [-0.5, 0.5];
  const yDomain = extent(
    [...completed, ...pruned].map((p) => p.v),
    0.08,
  );
  const f = frame(xDomain, yDomain);
  const title = 'Objective vs trial';
  const parts = chartStart(f, {
    id: 'objective',
    title,
    description: `${o.name} of each trial in the order they started (${better(o)}); the line is the best so far`,
    xDomain,
    yDomain,
    xLabel: 'trial',
    yLabel: `${o.name} (${better(o)})`,
    xInteger: true,
  });
  parts.push(
    legend(f, [
      [`<circle r="5" fill="${colour(0)}"/>`, 'completed'],
      ...(pruned.length ? ([[`<circle r="4.5" fill="none" stroke="${GREY}" stroke-width="1.5"/>`, 'pruned (last rung)']] as [string, string][]) : []),
      [`<line x1="-6" x2="6" stroke="${BEST}" stroke-width="2"/>`, 'best so far'],
      [`<circle r="6" fill="${BEST}" stroke="#000" stroke-width="1.5"/>`, 'best trial'],
    ]),
  );
  if (completed.length + pruned.length === 0) parts.push(noData(f, 'No finished trial yet'));

  // The running best over completed trials in trial order, as a step line.
  if (completed.length) {
    const isBetter = (a: number, b: number) => (o.direction === 'minimize' ? a < b : a > b);
    let best = completed[0]!.v;
    const d: string[] = [`M${n(f.x(completed[0]!.t.index))} ${n(f.y(best))}`];
    for (const p of completed.slice(1)) {
      d.push(`H${n(f.x(p.t.index))}`);
      if (isBetter(p.v, best)) {
        best = p.v;
        d.push(`V${n(f.y(best))}`);
      }
    }
    d.push(`H${n(f.x(xDomain[1]))}`);
    parts.push(`<path class="best-so-far" d="${d.join(' ')}" fill="none" stroke="${BEST}" stroke-width="2" stroke-opacity="0.8"/>`);
  }
  for (const p of pruned)
    parts.push(
      `<circle class="point pruned" data-trial="${p.t.index}" cx="${n(f.x(p.t.index))}" cy="${n(f.y(p.v))}" r="4.5" fill="#fff" stroke="${GREY}" stroke-width="1.5"><title>${esc(`trial ${p.t.index}: pruned at step ${p.step}, valLoss ${fmt(p.v)}`)}</title></circle>`,
    );
  for (const p of completed) {
    const best = p.t.index === bestIndex;
    parts.push(
      `<circle class="point completed${best ? ' best' : ''}" data-trial="${p.t.index}" cx="${n(f.x(p.t.index))}" cy="${n(f.y(p.v))}" r="${best ? 7 : 5}" fill="${best ? BEST : colour(0)}"${best ? ' stroke="#000" stroke-width="1.5"' : ''}><title>${esc(`trial ${p.t.index}: ${o.name} ${fmt(p.v)}${best ? ' (best)' : ''}`)}</title></circle>`,
    );
    if (best)
      parts.push(
        `<text class="best-label" x="${n(f.x(p.t.index) + 10)}" y="${n(f.y(p.v) - 10)}" fill="${BEST}" font-weight="bold">best #${p.t.index}</text>`,
      );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Chart 2: validation loss by step, one line per trial: pruned grey, completed coloured, the best thick. */
export function learningCurvesSvg(board: SweepLeaderboard): string {
  const bestIndex = board.best?.index;
  const order = { pruned: 0, failed: 1, paused: 2, running: 2, completed: 3 } as const;
  const trials = board.trials
    .filter((t) => curve(t).length > 0)
    .sort((a, b) => order[a.status] - order[b.status] || Number(a.index === bestIndex) - Number(b.index === bestIndex) || a.index - b.index);
  const points = trials.flatMap(curve);
  const maxStep = Math.max(1, ...points.map((p) => p.step), ...trials.map((t) => t.steps).filter(Number.isFinite));
  const xDomain: [number, number] = [0, maxStep];
  const yDomain = extent(
    points.map((p) => p.valLoss),
    0.08,
  );
  const f = frame(xDomain, yDomain);
  const title = 'Validation loss by step';
  const parts = chartStart(f, {
    id: 'curves',
    title,
    description: 'validation loss at each rung of each trial; grey lines are trials ASHA stopped early',
    xDomain,
    yDomain,
    xLabel: 'training step',
    yLabel: 'validation loss (lower is better)',
  });
  parts.push(
    legend(f, [
      [`<line x1="-6" x2="6" stroke="${colour(1)}" stroke-width="2"/>`, 'completed'],
      [`<line x1="-6" x2="6" stroke="${GREY}" stroke-width="1.5"/>`, 'pruned (stopped early)'],
      [`<line x1="-6" x2="6" stroke="${GREY}" stroke-width="1.5" stroke-dasharray="4 3"/>`, 'running / failed'],
      [`<line x1="-6" x2="6" stroke="${BEST}" stroke-width="4"/>`, 'best trial'],
    ]),
  );
  if (trials.length === 0) parts.push(noData(f, 'No validation loss recorded yet'));
  for (const t of trials) {
    const best = t.index === bestIndex;
    const stroke = best ? BEST : t.status === 'completed' ? colour(t.index) : GREY;
    const width = best ? 4 : t.status === 'completed' ? 2 : 1.5;
    const dash = t.status === 'running' || t.status === 'failed' ? ' stroke-dasharray="4 3"' : '';
    const c = curve(t);
    const label = `trial ${t.index} (${t.status}): ${c.map((r) => `step ${r.step} ${fmt(r.valLoss)}`).join(', ')}`;
    parts.push(
      `<g class="curve ${t.status}${best ? ' best' : ''}" data-trial="${t.index}"><title>${esc(label)}</title>` +
        `<polyline points="${c.map((r) => `${n(f.x(r.step))},${n(f.y(r.valLoss))}`).join(' ')}" fill="none" stroke="${stroke}" stroke-width="${width}"${dash} stroke-linejoin="round"/>` +
        c.map((r) => `<circle cx="${n(f.x(r.step))}" cy="${n(f.y(r.valLoss))}" r="${best ? 4 : 2.5}" fill="${stroke}"/>`).join('') +
        (best
          ? `<text class="best-label" x="${n(f.x(c.at(-1)!.step) - 6)}" y="${n(f.y(c.at(-1)!.valLoss) - 10)}" text-anchor="end" fill="${BEST}" font-weight="bold">best #${t.index}</text>`
          : '') +
        '</g>',
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Chart 3 (two objectives or more): the first two objectives of every completed trial, the Pareto front highlighted and joined. */
export function paretoChartSvg(board: SweepLeaderboard): string {
  const [ox, oy] = board.objectives as [SweepObjective, SweepObjective];
  const front = new Set(board.paretoFront);
  const bestIndex = board.best?.index;
  const points = board.trials
    .filter((t) => t.status === 'completed' && finite(t.values?.[0]) && finite(t.values?.[1]))
    .map((t) => ({ t, x: t.values![0]!, y: t.values![1]! }))
    .sort((a, b) => a.x - b.x || a.y - b.y || a.t.index - b.t.index);
  const xDomain = extent(
    points.map((p) => p.x),
    0.08,
  );
  const yDomain = extent(
    points.map((p) => p.y),
    0.08,
  );
  const f = frame(xDomain, yDomain);
  const title = 'Pareto front';
  const parts = chartStart(f, {
    id: 'pareto',
    title,
    description: `${ox.name} (${better(ox)}) against ${oy.name} (${better(oy)}) for each completed trial; the front is the trials no other beats in both`,
    xDomain,
    yDomain,
    xLabel: `${ox.name} (${better(ox)})`,
    yLabel: `${oy.name} (${better(oy)})`,
  });
  parts.push(
    legend(f, [
      [`<circle r="4.5" fill="${GREY}"/>`, 'completed (dominated)'],
      [`<circle r="6" fill="${colour(2)}" stroke="#000" stroke-width="1"/>`, 'Pareto front'],
      [`<circle r="7" fill="${BEST}" stroke="#000" stroke-width="1.5"/>`, 'best trial'],
    ]),
  );
  if (points.length === 0) parts.push(noData(f, 'No completed trial with both values yet'));
  const onFront = points.filter((p) => front.has(p.t.index));
  if (onFront.length > 1)
    parts.push(
      `<polyline class="front-line" points="${onFront.map((p) => `${n(f.x(p.x))},${n(f.y(p.y))}`).join(' ')}" fill="none" stroke="${colour(2)}" stroke-width="2"/>`,
    );
  for (const p of [...points.filter((p) => !front.has(p.t.index)), ...onFront]) {
    const isFront = front.has(p.t.index);
    const best = p.t.index === bestIndex;
    const fill = best ? BEST : isFront ? colour(2) : GREY;
    parts.push(
      `<circle class="point completed${isFront ? ' front' : ''}${best ? ' best' : ''}" data-trial="${p.t.index}" cx="${n(f.x(p.x))}" cy="${n(f.y(p.y))}" r="${best ? 7 : isFront ? 6 : 4.5}" fill="${fill}"${isFront ? ` stroke="#000" stroke-width="${best ? 1.5 : 1}"` : ''}><title>${esc(`trial ${p.t.index}: ${ox.name} ${fmt(p.x)}, ${oy.name} ${fmt(p.y)}${isFront ? ' (Pareto front)' : ''}${best ? ' (best)' : ''}`)}</title></circle>`,
    );
    if (isFront) parts.push(`<text class="point-label" x="${n(f.x(p.x) + 9)}" y="${n(f.y(p.y) - 8)}" font-size="11">#${p.t.index}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const paramList = (params: SweepTrial['params']) =>
  Object.entries(params)
    .map(([k, v]) => `<code>${esc(k)}</code> = ${paramValue(v)}`)
    .join(', ');

function trialTable(board: SweepLeaderboard): string {
  const names: string[] = [];
  for (const t of board.trials) for (const k of Object.keys(t.params)) if (!names.includes(k)) names.push(k);
  const front = new Set(board.paretoFront);
  const head = [
    'rank',
    'trial',
    'status',
    'steps',
    ...board.objectives.map((o) => `${o.name} (${o.direction === 'minimize' ? '↓' : '↑'})`),
    'validation loss by rung',
    ...names,
    'reason',
  ]
    .map((h) => `<th scope="col">${esc(h)}</th>`)
    .join('');
  const rows = board.trials.map((t, rank) => {
    const best = t.index === board.best?.index;
    const cls = ['trial', t.status, ...(best ? ['best'] : []), ...(front.has(t.index) ? ['front'] : [])].join(' ');
    const rungs = t.rungs.map((r) => `${r.step}: ${r.valLoss === null ? '–' : fmt(r.valLoss)}`).join(', ') || '–';
    const cells = [
      `<td>${rank + 1}</td>`,
      `<th scope="row">#${t.index}${best ? ' ★' : ''}</th>`,
      `<td><span class="status ${t.status}">${t.status}</span>${front.has(t.index) ? ' <span class="tag">front</span>' : ''}</td>`,
      `<td class="num">${t.step}/${t.steps}</td>`,
      ...board.objectives.map((_, i) => `<td class="num">${t.values && finite(t.values[i]) ? fmt(t.values[i]) : '–'}</td>`),
      `<td class="rungs">${esc(rungs)}</td>`,
      ...names.map((k) => `<td class="num">${k in t.params ? paramValue(t.params[k]!) : '–'}</td>`),
      `<td class="reason">${t.reason ? esc(t.reason) : ''}</td>`,
    ];
    return `<tr class="${cls}" data-trial="${t.index}">${cells.join('')}</tr>`;
  });
  return `<table class="trials"><caption>All trials, best first</caption><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * The sweep's report as one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched): the sweep and its best trial, the objective per trial with the best so far, every
 * trial's learning curve (where ASHA stopped it), the Pareto front with two objectives or more, and
 * the table of all trials. Every string from the sweep is escaped.
 */
export function sweepReportHtml(sweepId: string, board: SweepLeaderboard): string {
  const c = board.counts;
  const saved = board.fullSteps > 0 ? `${fmt((100 * board.trainSteps) / board.fullSteps)}%` : '–';
  const objectives = board.objectives.map((o) => `<code>${esc(o.name)}</code> (${better(o)})`).join(', ');
  const best = board.best
    ? `<section aria-labelledby="best"><h2 id="best">Best trial: #${board.best.index}</h2>
<table class="best"><tbody>${board.objectives.map((o, i) => `<tr><th scope="row">${esc(o.name)}</th><td class="num">${fmt(board.best!.values[i] ?? NaN)}</td></tr>`).join('')}</tbody></table>
<p>Parameters: ${paramList(board.best.params) || '–'}</p>
<details><summary>The pipeline input that trains it again (<code>pixel run --input</code>)</summary><pre>${esc(JSON.stringify(board.best.pipelineInput, null, 2))}</pre></details>
</section>`
    : '<section aria-labelledby="best"><h2 id="best">Best trial</h2><p>No completed trial yet.</p></section>';
  const charts = [
    `<figure id="chart-objective">${objectiveChartSvg(board)}<figcaption>Each completed trial’s ${esc(board.objectives[0]?.name ?? 'objective')}; the red step line is the best so far.${board.objectives[0]?.name === 'valLoss' ? ' Hollow grey rings: trials ASHA pruned, at their last rung’s validation loss (measured earlier in training, so not comparable one to one).' : ''}</figcaption></figure>`,
    `<figure id="chart-curves">${learningCurvesSvg(board)}<figcaption>Validation loss at every rung: grey lines end where ASHA stopped a trial early; the thick red line is the best trial.</figcaption></figure>`,
    ...(board.objectives.length >= 2
      ? [
          `<figure id="chart-pareto">${paretoChartSvg(board)}<figcaption>Completed trials on the first two objectives; outlined points joined by the line are the Pareto front (no other trial is better in both).</figcaption></figure>`,
        ]
      : []),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pixel sweep: ${esc(board.name)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#111;line-height:1.4}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
table.trials{width:100%;font-size:.9em}caption{font-weight:bold;text-align:left;padding:.3rem 0}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.rungs{font-size:.85em}.reason{font-size:.85em;color:#444;max-width:24rem;word-break:break-word}code{font-size:.9em}
tr.best{background:#fdeaea}tr.pruned,tr.failed{color:#555}.status{padding:0 .3rem;border-radius:3px}.status.completed{background:#e3f3e3}
.status.pruned{background:#eee}.status.failed{background:#fde0e0}.status.running{background:#e3ecf8}.tag{font-size:.8em;background:#e0f0e0;border-radius:3px;padding:0 .3rem}
.summary{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}.summary dt{font-weight:bold}.summary dd{margin:0}
figure{margin:1.5rem 0}svg.chart{max-width:100%;height:auto;border:1px solid #ddd}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:20rem}
</style>
</head>
<body>
<main>
<h1>Sweep ${esc(board.name)}</h1>
<dl class="summary">
<dt>Sweep id</dt><dd><code>${esc(sweepId)}</code></dd>
<dt>Status</dt><dd>${esc(board.status)}${board.stopped ? ` (stopped: ${esc(board.stopped.reason)})` : ''}</dd>
<dt>Trials</dt><dd>${board.started} started of ${board.budget}: ${c.completed} completed, ${c.pruned} pruned, ${c.failed} failed, ${c.running} running</dd>
<dt>Objectives</dt><dd>${objectives || '–'}</dd>
<dt>Training steps used</dt><dd class="steps-used">${board.trainSteps} of ${board.fullSteps} (${saved})${board.fullSteps > board.trainSteps ? `: early stopping saved ${board.fullSteps - board.trainSteps} steps` : ''}</dd>
</dl>
${best}
<section aria-labelledby="charts"><h2 id="charts">Charts</h2>
${charts.join('\n')}
</section>
<section aria-labelledby="trials"><h2 id="trials">Trials</h2>
${trialTable(board)}
</section>
</main>
</body>
</html>
`;
}

/** Writes the leaderboard (`sweep-report.json`) and its page (`sweep-report.html`) under `sweeps/<sweepId>/`. */
export async function writeSweepReport(
  store: ArtifactStore,
  sweepId: string,
  board: SweepLeaderboard,
): Promise<{ reportUri: string; reportHtmlUri: string }> {
  const json = await store.writeText(`sweeps/${sweepId}/sweep-report.json`, `${JSON.stringify(board, null, 2)}\n`);
  const html = await store.writeText(`sweeps/${sweepId}/sweep-report.html`, sweepReportHtml(sweepId, board));
  return { reportUri: json.uri, reportHtmlUri: html.uri };
}
