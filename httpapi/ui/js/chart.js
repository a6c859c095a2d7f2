// A small SVG line chart of a job's rate over time.
import { s, fmtInt, fmtDec } from './dom.js';

const W = 720, H = 170, L = 52, R = 10, T = 12, B = 24;

// niceMax rounds a maximum up to 1, 2 or 5 × 10^n.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function label(v) {
  return v >= 1000 ? fmtInt(v) : fmtDec(v);
}

// rateChart returns {el, draw(points, avg, end)}: points are {t (s),
// rate (/s)}; end, when given, is the time axis's end (a finished job's
// run time).
export function rateChart() {
  const el = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'targets per second over time' });
  function draw(points, avg, end) {
    el.replaceChildren();
    const tMax = Math.max(1, end || 0, ...points.map((p) => p.t));
    const yMax = niceMax(Math.max(avg || 0, ...points.map((p) => p.rate)) * 1.1);
    const x = (t) => L + ((W - L - R) * t) / tMax;
    const y = (r) => T + (H - T - B) * (1 - r / yMax);
    for (const f of [0, 0.5, 1]) {
      const v = yMax * f;
      el.append(
        s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid-line' }),
        s('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, label(v) + '/s'));
    }
    el.append(
      s('text', { x: L, y: H - 6, class: 'axis' }, '0s'),
      s('text', { x: W - R, y: H - 6, class: 'axis', 'text-anchor': 'end' }, fmtDec(tMax) + 's'));
    if (points.length > 1) {
      const line = points.map((p) => `${x(p.t).toFixed(1)},${y(p.rate).toFixed(1)}`).join(' ');
      const first = points[0], last = points[points.length - 1];
      el.append(
        s('polygon', { points: `${x(first.t).toFixed(1)},${y(0)} ${line} ${x(last.t).toFixed(1)},${y(0)}`, class: 'area' }),
        s('polyline', { points: line, class: 'line' }));
    }
    if (avg) {
      el.append(
        s('line', { x1: L, x2: W - R, y1: y(avg), y2: y(avg), class: 'avg-line' }),
        s('text', { x: W - R - 4, y: y(avg) - 5, class: 'axis avg', 'text-anchor': 'end' }, `average ${label(avg)}/s`));
    }
  }
  draw([], 0);
  return { el, draw };
}

// seriesPoints turns GET /rate's answer into chart points: each span's
// rate at its middle. A last span cut short by the job's end is measured
// over its own length (merged into the one before when under half a span,
// whose few answers would make a spike). It returns {points, end (s)}.
export function seriesPoints(series) {
  const counts = series.counts || [];
  const step = series.bucketMs || 0;
  if (!counts.length || !step || !series.from || !series.to) return { points: [], end: 0 };
  const runMs = Math.max(0, Date.parse(series.to) - Date.parse(series.from));
  const spans = counts.map((n, i) => ({ start: i * step, width: step, n }));
  const last = spans[spans.length - 1];
  last.width = Math.max(1, Math.min(step, runMs - last.start));
  if (spans.length > 1 && last.width < step / 2) {
    const prev = spans[spans.length - 2];
    prev.width += last.width;
    prev.n += last.n;
    spans.pop();
  }
  let points = spans.map((sp) => ({ t: (sp.start + sp.width / 2) / 1000, rate: (sp.n * 1000) / sp.width }));
  if (points.length === 1) { // one span: a level line over the run
    points = [{ t: 0, rate: points[0].rate }, { t: runMs / 1000, rate: points[0].rate }];
  }
  return { points, end: runMs / 1000 };
}
