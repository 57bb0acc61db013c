// The image views: Evolution and Explanations (a matrix: rows x every logged step), the enlarged
// image with its channels and normalization, and Compare (two runs or steps and their difference).

import {clear, el, getJSON, imageURL, select, shortHash} from './dom.js';

const STEP_NOTE = 'Columns are steps = epochs trained (0 = untrained).';
const KEY_NOTE = '\u2190/\u2192 steps, \u2191/\u2193 rows, Enter enlarges, Esc closes.';
let detail = null;

function stepLabel(step) {
  return step === 0 ? '0 = untrained' : String(step);
}

/** The rows of a matrix view: [{label, tag}] for 'feature_maps', 'pca_rgb' or 'explanations'. */
export function matrixRows(ctx, kind) {
  const prefixes = ctx.kinds[kind] || [];
  const rows = [];
  for (const tag of Object.keys(ctx.tags.tags)) {
    const prefix = prefixes.find((p) => tag.startsWith(p));
    if (!prefix) continue;
    rows.push({label: kind === 'explanations' ? tag : tag.slice(prefix.length), tag});
  }
  return rows;
}

function controls(ctx, kind) {
  const {state, run, runs, update} = ctx;
  const bar = el('div', {class: 'controls'},
    select('Run', runs.map((r) => [r.name, r.name]), state.run, (v) => update({run: v, open: ''})),
    select('Probe sample', [...Array(run.samples).keys()].map((i) => [i, String(i)]), state.sample,
      (v) => update({sample: v})));
  if (kind !== 'explanations') {
    bar.append(select('Images', [['feature_maps', 'feature maps'], ['pca_rgb', 'PCA-RGB']], state.kind,
      (v) => update({kind: v})));
  }
  bar.append(select('Size', [['64', 'small'], ['96', 'medium'], ['160', 'large'], ['256', 'huge']],
    state.size, (v) => update({size: v})));
  return bar;
}

function sampleOf(ctx, tag) {
  // Explanations of some kinds have one image per step whatever the probe size.
  const samples = ctx.tags.tags[tag].samples;
  return Math.min(Number(ctx.state.sample), samples - 1);
}

/** Evolution (kind 'feature_maps' or 'pca_rgb') or Explanations: rows x every logged step. */
export function renderMatrix(panel, ctx, kind) {
  const {state, run} = ctx;
  const rows = matrixRows(ctx, kind);
  const rowKey = kind === 'explanations' ? 'xrow' : 'layer';
  const current = rows.some((r) => r.label === state[rowKey]) ? state[rowKey] : (rows[0] || {}).label;
  ctx.nav({rowKey, rows: rows.map((r) => r.label), stepKey: 'step', steps: run.steps});
  panel.append(controls(ctx, kind), el('p', {class: 'note', text: `${STEP_NOTE} ${KEY_NOTE}`}));
  if (!rows.length) {
    const what = kind === 'explanations'
      ? 'No saliency, Grad-CAM or activation-maximization images in this run (FeatureMapCallback: ' +
        'saliency=[...], gradcam=..., activation_max=...).'
      : 'No images of this kind in this run.';
    panel.append(el('p', {class: 'empty', text: what}));
    return;
  }
  const head = el('tr', {}, el('th', {scope: 'col', class: 'corner', text: kind === 'explanations'
    ? 'image \\ step' : 'layer \\ step'}));
  for (const step of run.steps) {
    head.append(el('th', {scope: 'col', class: step === Number(state.step) ? 'current' : null,
      text: stepLabel(step)}));
  }
  const body = el('tbody', {});
  for (const row of rows) {
    const info = ctx.tags.tags[row.tag];
    const byStep = new Map(info.steps.map((s, i) => [s, info.versions[i]]));
    const tr = el('tr', {class: row.label === current ? 'current' : null},
      el('th', {scope: 'row', class: 'layer', title: info.description, text: row.label}));
    for (const step of run.steps) {
      if (!byStep.has(step)) {
        tr.append(el('td', {class: 'missing', text: '\u2013'}));
        continue;
      }
      const sample = sampleOf(ctx, row.tag);
      const here = step === Number(state.step) && row.label === current;
      const img = el('img', {
        src: imageURL(run.name, row.tag, step, sample, byStep.get(step)),
        alt: `${row.label}, step ${step}`,
        title: `${row.label}, step ${stepLabel(step)}, sample ${sample}`,
        loading: 'lazy',
        'data-layer': row.label,
        'data-step': step,
      });
      // Pixelated when enlarged (crisp tiles), smooth when shrunk (no dropped tile borders).
      img.addEventListener('load', () => img.classList.toggle('up', img.naturalHeight < Number(state.size)));
      const button = el('button', {class: here ? 'cell current' : 'cell', 'aria-label': `enlarge ${img.alt}`,
        onclick: () => ctx.update({[rowKey]: row.label, step, open: '1'})}, img);
      tr.append(el('td', {}, button));
    }
    body.append(tr);
  }
  const table = el('table', {class: 'matrix'}, el('thead', {}, head), body);
  panel.append(el('div', {class: 'scroller'}, table));
  if (state.open === '1') {
    const row = rows.find((r) => r.label === current);
    openDetail(ctx, row, kind);
  }
}

export function closeDetail() {
  if (detail) detail.remove();
  detail = null;
}

function settingsText(entry) {
  if (!entry || !entry.settings) return null;
  const s = entry.settings;
  const parts = [`normalize=${s.normalize}`, `clip_percentile=${s.clip_percentile}`,
    `colormap=${s.colormap}`, `channel_order=${s.channel_order}`, `max_channels=${s.max_channels}`];
  if (entry.fixed_range) parts.push(`fixed range [${entry.fixed_range.join(', ')}]`);
  return parts.join(', ');
}

function openDetail(ctx, row, kind) {
  closeDetail();
  const {state, run} = ctx;
  const info = ctx.tags.tags[row.tag];
  const at = info.steps.indexOf(Number(state.step));
  if (at < 0) return;
  const sample = sampleOf(ctx, row.tag);
  const layerState = kind === 'feature_maps' ? (ctx.tags.layers || {})[row.label] : null;
  const description = el('dd', {text: info.description || '(none)'});
  getJSON('detail', {run: run.name, tag: row.tag, step: String(state.step)})
    .then((answer) => { description.textContent = answer.description || '(none)'; })
    .catch(() => {});  // the newest description stays
  const facts = el('dl', {class: 'facts'},
    el('dt', {text: 'Image'}), el('dd', {text: `${info.width} \u00d7 ${info.height} px, tag ${row.tag}`}),
    el('dt', {text: 'Description'}), description);
  if (layerState && layerState.channels) {
    facts.append(el('dt', {text: 'Channels shown'}), el('dd', {text: layerState.channels.join(', ')}));
  }
  const normalization = settingsText(layerState);
  if (normalization) facts.append(el('dt', {text: 'Normalization'}), el('dd', {text: normalization}));
  const move = (delta) => {
    const step = info.steps[Math.min(info.steps.length - 1, Math.max(0, at + delta))];
    ctx.update({step});
  };
  detail = el('div', {class: 'detail', role: 'dialog', 'aria-modal': 'true', 'aria-label': 'enlarged image',
    onclick: (event) => { if (event.target === detail) ctx.update({open: ''}); }},
  el('div', {class: 'detail-box'},
    el('div', {class: 'detail-head'},
      el('h2', {text: `${row.label} \u00b7 step ${stepLabel(Number(state.step))} \u00b7 sample ${sample}`}),
      el('button', {text: '\u2190 step', onclick: () => move(-1)}),
      el('button', {text: 'step \u2192', onclick: () => move(+1)}),
      el('button', {text: 'Close', onclick: () => { closeDetail(); ctx.update({open: ''}); }})),
    el('p', {class: 'note', text: `Run ${run.name}`}),
    el('img', {class: 'large', src: imageURL(run.name, row.tag, state.step, sample, info.versions[at]),
      alt: `${row.label}, step ${state.step}, enlarged`}),
    facts));
  document.body.append(detail);
}

function figure(caption, media, lines) {
  return el('figure', {class: 'panel'}, media,
    el('figcaption', {}, el('strong', {text: caption}), ...lines.map((t) => el('span', {
      class: t.startsWith('\u26a0') ? 'warning' : null, text: t}))));
}

function probeLine(own, other, otherName) {
  if (!own || !own.sha256) return '\u26a0 no probe recorded (arrays logged directly?): comparable?';
  if (!other || !other.sha256) return `probe ${shortHash(own)}`;
  return own.sha256 === other.sha256
    ? `probe ${shortHash(own)}: same as ${otherName}`
    : `\u26a0 probe ${shortHash(own)} differs from ${otherName}'s ${shortHash(other)}: not comparable`;
}

function settingsDiff(a, b) {
  if (!a || !b) return [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
}

async function pixels(img) {
  await img.decode();
  const canvas = el('canvas', {width: img.naturalWidth, height: img.naturalHeight});
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/** |A - B| as grey: the largest absolute difference over R, G, B (black = equal), as the CLI. */
async function difference(imgA, imgB, canvas, caption) {
  try {
    const [a, b] = await Promise.all([pixels(imgA), pixels(imgB)]);
    if (a.width !== b.width || a.height !== b.height) {
      canvas.hidden = true;
      caption.textContent = `sizes differ (${a.width}\u00d7${a.height} vs ${b.width}\u00d7${b.height}): ` +
        'no difference image';
      return;
    }
    canvas.width = a.width;
    canvas.height = a.height;
    const out = new ImageData(a.width, a.height);
    let most = 0;
    let sum = 0;
    for (let i = 0; i < a.data.length; i += 4) {
      const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]),
        Math.abs(a.data[i + 2] - b.data[i + 2]));
      out.data[i] = out.data[i + 1] = out.data[i + 2] = d;
      out.data[i + 3] = 255;
      most = Math.max(most, d);
      sum += d;
    }
    canvas.getContext('2d').putImageData(out, 0, 0);
    caption.textContent = `max |A \u2212 B| = ${most}/255, mean ${(sum / (a.width * a.height)).toFixed(1)}`;
  } catch (err) {
    canvas.hidden = true;
    caption.textContent = `no difference image: ${err.message}`;
  }
}

/** Compare: one layer and sample of two runs, or of two steps, side by side with |A - B|. */
export async function renderCompare(panel, ctx) {
  const {state, runs, update} = ctx;
  const runA = ctx.run;
  const runB = ctx.runInfo(state.runB);
  const tagsB = await ctx.tagsOf(runB.name);
  const layers = runA.layers;
  ctx.nav({rowKey: 'layer', rows: layers, stepKey: 'stepB', steps: runB.steps});
  const names = runs.map((r) => [r.name, r.name]);
  panel.append(el('div', {class: 'controls'},
    select('Layer', layers.map((l) => [l, l]), state.layer, (v) => update({layer: v})),
    select('Probe sample', [...Array(runA.samples).keys()].map((i) => [i, String(i)]), state.sample,
      (v) => update({sample: v})),
    select('Images', [['feature_maps', 'feature maps'], ['pca_rgb', 'PCA-RGB']], state.kind,
      (v) => update({kind: v}))),
  el('div', {class: 'controls'},
    select('A: run', names, runA.name, (v) => update({run: v})),
    select('A: step', runA.steps.map((s) => [s, stepLabel(s)]), state.step, (v) => update({step: v})),
    select('B: run', names, runB.name, (v) => update({runB: v})),
    select('B: step', runB.steps.map((s) => [s, stepLabel(s)]), state.stepB, (v) => update({stepB: v}))),
  el('p', {class: 'note', text: `${STEP_NOTE} \u2190/\u2192 move B's step, \u2191/\u2193 layers.`}));
  const prefix = (ctx.kinds[state.kind] || [])[0];
  const tag = prefix + state.layer;
  const side = (label, run, tags, step, other, otherName) => {
    const info = tags.tags[tag];
    const at = info ? info.steps.indexOf(Number(step)) : -1;
    const lines = [probeLine(run.probe, other.probe, otherName)];
    if (at < 0) {
      return {img: null, node: figure(`${label}: ${run.name}, step ${step}`,
        el('p', {class: 'empty', text: `no ${tag} at step ${step}`}), lines)};
    }
    const sample = Math.min(Number(state.sample), info.samples - 1);
    const img = el('img', {class: 'compare', src: imageURL(run.name, tag, step, sample, info.versions[at]),
      alt: `${label}: ${run.name}, ${state.layer}, step ${step}`});
    return {img, node: figure(`${label}: ${run.name}, ${state.layer}, step ${stepLabel(Number(step))}`,
      img, lines)};
  };
  const a = side('A', runA, ctx.tags, state.step, runB, 'B');
  const b = side('B', runB, tagsB, state.stepB, runA, 'A');
  const diffCaption = el('span', {text: 'computing\u2026'});
  const canvas = el('canvas', {class: 'compare', role: 'img', 'aria-label': 'difference |A \u2212 B|'});
  const diff = el('figure', {class: 'panel'}, canvas,
    el('figcaption', {}, el('strong', {text: '|A \u2212 B| (grey, black = equal)'}), diffCaption));
  const warnings = settingsDiff((ctx.tags.layers[state.layer] || {}).settings || runA.settings,
    (tagsB.layers[state.layer] || {}).settings || runB.settings);
  panel.append(el('div', {class: 'panels'}, a.node, b.node, diff));
  if (warnings.length) {
    panel.append(el('p', {class: 'warning', text: `\u26a0 render settings differ: ${warnings.join('; ')}`}));
  }
  if (a.img && b.img) difference(a.img, b.img, canvas, diffCaption);
  else {
    canvas.hidden = true;
    clear(diffCaption).append('no difference image: a side is missing');
  }
}
