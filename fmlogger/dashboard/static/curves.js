// Curves: each layer's feature-map statistics as small SVG line charts over steps, and Keras'
// epoch_* scalars of the train/validation runs beside the fmlogger run on the same epoch axis.

import {el, getJSON, select, svg} from './dom.js';

const W = 230;
const H = 130;
const M = {left: 46, right: 10, top: 18, bottom: 24};

function format(value) {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4) ? value.toExponential(2)
    : String(Number(value.toPrecision(3)));
}

/** One small line chart: `series` = [{name, points: [[x, y], ...], cls}], x range `xs`. */
function chart(title, series, xs, step, onPick) {
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const [x0, x1] = xs[0] === xs[1] ? [xs[0], xs[0] + 1] : xs;
  const px = (x) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const root = svg('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': title},
  svg('title', {text: title}),
  svg('text', {x: M.left, y: 12, class: 'chart-title', text: title}),
  svg('line', {x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom, class: 'axis'}),
  svg('line', {x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom, class: 'axis'}),
  svg('text', {x: M.left - 4, y: py(y1) + 4, class: 'tick y', text: format(y1)}),
  svg('text', {x: M.left - 4, y: py(y0) + 4, class: 'tick y', text: format(y0)}),
  svg('text', {x: px(x0), y: H - 8, class: 'tick x', text: String(x0)}),
  svg('text', {x: px(x1), y: H - 8, class: 'tick x', text: String(x1)}));
  if (Number.isFinite(step)) {
    root.append(svg('line', {x1: px(step), y1: M.top, x2: px(step), y2: H - M.bottom, class: 'cursor'}));
  }
  for (const s of series) {
    const points = s.points.filter((p) => Number.isFinite(p[1]));
    root.append(svg('polyline', {class: `line ${s.cls}`, points: points.map((p) => `${px(p[0])},${py(p[1])}`)
      .join(' ')}));
    for (const [x, y] of points) {
      root.append(svg('circle', {cx: px(x), cy: py(y), r: 2, class: `dot ${s.cls}`},
        svg('title', {text: `${s.name}: ${format(y)} at ${x} epochs trained`})));
    }
  }
  root.addEventListener('click', (event) => {
    const box = root.getBoundingClientRect();
    const inner = (event.clientX - box.left) * (W / box.width) - M.left;
    const x = x0 + (inner / (W - M.left - M.right)) * (x1 - x0);
    onPick(x);
  });
  return root;
}

function legend(series) {
  return el('p', {class: 'legend'}, ...series.map((s) => el('span', {class: `key ${s.cls}`, text: s.name})));
}

/** Curves view: Keras' metrics (when logged beside the run), then one row of charts per layer. */
export async function renderCurves(panel, ctx) {
  const {state, run, runs, update} = ctx;
  const data = await getJSON('scalars', {run: run.name});
  ctx.nav({rowKey: 'layer', rows: run.layers, stepKey: 'step', steps: run.steps});
  const kerasSteps = Object.values(data.keras).flatMap((tags) => Object.values(tags).flat().map((p) => p[0]));
  const statSteps = Object.values(data.stats).flatMap((s) => Object.values(s).flat().map((p) => p[0]));
  const all = [...run.steps, ...kerasSteps, ...statSteps];
  const xs = [Math.min(...all, 0), Math.max(...all, 1)];
  const pick = (x) => {
    const nearest = run.steps.reduce((a, b) => (Math.abs(b - x) < Math.abs(a - x) ? b : a), run.steps[0]);
    update({step: nearest});
  };
  panel.append(el('div', {class: 'controls'},
    select('Run', runs.map((r) => [r.name, r.name]), run.name, (v) => update({run: v}))),
  el('p', {class: 'note', text: 'x = epochs trained. fmlogger logs step k after k epochs (0 = untrained); ' +
    'Keras writes epoch e at step e, after e + 1 epochs, so its points are drawn at ' +
    `e + ${data.keras_step_offset}. ` +
    'The vertical line is the current step (\u2190/\u2192); click a chart to move it.'}));
  const kerasRuns = Object.keys(data.keras);
  const metrics = [...new Set(kerasRuns.flatMap((name) => Object.keys(data.keras[name])))]
    .sort((a, b) => (a === 'epoch_loss' ? -1 : b === 'epoch_loss' ? 1 : a.localeCompare(b)));
  if (metrics.length) {
    const series = (metric) => kerasRuns.filter((name) => data.keras[name][metric])
      .map((name) => ({name: run.keras[name] || name, points: data.keras[name][metric], cls: `run-${name}`}));
    panel.append(el('h2', {text: 'Keras'}), legend(series(metrics[0])),
      el('div', {class: 'charts'}, ...metrics.map((m) => chart(m, series(m), xs, Number(state.step), pick))));
  } else {
    panel.append(el('p', {class: 'empty', text: 'No Keras train/validation runs beside this run ' +
      '(keras.callbacks.TensorBoard on the same log_dir adds its loss here).'}));
  }
  panel.append(el('h2', {text: 'Feature-map statistics per layer'}));
  const layers = Object.keys(data.stats);
  if (!layers.length) {
    panel.append(el('p', {class: 'empty', text: 'No feature_map_stats scalars in this run.'}));
  }
  for (const layer of layers) {
    const charts = data.stat_names.filter((stat) => data.stats[layer][stat]).map((stat) =>
      chart(`${layer} ${stat}`, [{name: stat, points: data.stats[layer][stat], cls: 'stat'}], xs,
        Number(state.step), pick));
    panel.append(el('section', {class: layer === state.layer ? 'layer-row current' : 'layer-row',
      'aria-label': layer}, el('h3', {text: layer}), el('div', {class: 'charts'}, ...charts)));
  }
}
