/**
 * A loss curve as a small standalone SVG a person can open: training loss per step and
 * validation loss per evaluation, with axes labelled by their ranges. No dependencies, no
 * script, numbers only (nothing from the data is written into it).
 */
export function lossChartSvg(
  losses: readonly { step: number; loss: number }[],
  valLosses: readonly { step: number; loss: number }[],
  title = 'Training loss',
): string {
  const width = 640;
  const height = 360;
  const pad = { left: 56, right: 16, top: 36, bottom: 40 };
  const all = [...losses, ...valLosses].filter((p) => Number.isFinite(p.loss));
  const steps = all.map((p) => p.step);
  const values = all.map((p) => p.loss);
  const [x0, x1] = steps.length > 0 ? [Math.min(...steps), Math.max(...steps)] : [0, 1];
  const [y0, y1] = values.length > 0 ? [Math.min(...values), Math.max(...values)] : [0, 1];
  const sx = (x: number) => pad.left + ((x - x0) / Math.max(1e-9, x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number) => height - pad.bottom - ((y - y0) / Math.max(1e-9, y1 - y0)) * (height - pad.top - pad.bottom);
  const line = (points: readonly { step: number; loss: number }[]) =>
    points
      .filter((p) => Number.isFinite(p.loss))
      .map((p) => `${sx(p.step).toFixed(1)},${sy(p.loss).toFixed(1)}`)
      .join(' ');
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3));
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${pad.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#444"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#444"/>`,
    `<text x="${pad.left}" y="${height - 12}">step ${x0}</text>`,
    `<text x="${width - pad.right}" y="${height - 12}" text-anchor="end">step ${x1}</text>`,
    `<text x="${pad.left - 6}" y="${pad.top + 4}" text-anchor="end">${fmt(y1)}</text>`,
    `<text x="${pad.left - 6}" y="${height - pad.bottom}" text-anchor="end">${fmt(y0)}</text>`,
    `<polyline class="train" fill="none" stroke="#1f77b4" stroke-width="1.5" points="${line(losses)}"/>`,
    `<polyline class="val" fill="none" stroke="#d62728" stroke-width="2" points="${line(valLosses)}"/>`,
    ...valLosses
      .filter((p) => Number.isFinite(p.loss))
      .map((p) => `<circle cx="${sx(p.step).toFixed(1)}" cy="${sy(p.loss).toFixed(1)}" r="3" fill="#d62728"/>`),
    `<text x="${width - pad.right}" y="20" text-anchor="end"><tspan fill="#1f77b4">train</tspan> · <tspan fill="#d62728">validation</tspan></text>`,
    '</svg>',
    '',
  ].join('\n');
}
