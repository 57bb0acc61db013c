// The Feature Maps dashboard: TensorBoard's plugin page imports this module and calls render().
// Plain ES module, no build step, nothing from outside this server. The page is
// /data/plugin_entry.html?name=fmlogger (<base href="plugin/fmlogger/">) inside TensorBoard's
// iframe; the view state lives in the URL hash of TensorBoard's page (#fmlogger&fm.view=...), so
// that URL is a permalink. Keys: left/right = steps, up/down = layers, Enter = enlarge, Esc = close.

import {clear, el, getJSON} from './dom.js';
import {renderCurves} from './curves.js';
import {closeDetail, renderCompare, renderMatrix} from './views.js';

const VIEWS = [
  ['evolution', 'Evolution'],
  ['compare', 'Compare'],
  ['explanations', 'Explanations'],
  ['curves', 'Curves'],
];
const KEYS = ['view', 'run', 'sample', 'layer', 'xrow', 'step', 'kind', 'size', 'runB', 'stepB', 'open'];
const POLL_MS = 10000;
const PLUGIN = 'fmlogger';

const app = {
  state: {},
  runs: [],
  kinds: {},  // view kind -> tag prefixes (from the server: fmlogger/tags.py)
  nav: null,  // what the arrow keys move: {rowKey, rows, stepKey, steps}, set by the view
  tags: {},  // run name -> /tags answer
  root: null,
  main: null,
  status: null,
  tabs: null,
  drawing: 0,
};

function hashOwner() {
  // TensorBoard's page (same origin) when we are its iframe, else this page.
  try {
    if (window.parent !== window && window.parent.location.hash !== undefined) return window.parent;
  } catch (err) {
    // another origin: keep the state in our own URL
  }
  return window;
}

function ours(params) {
  // TensorBoard's hash starts with the active tab's name: touch it only while ours is shown.
  const first = [...params.keys()][0];
  return hashOwner() === window || first === PLUGIN;
}

function readHash() {
  const params = new URLSearchParams(hashOwner().location.hash.slice(1));
  const state = {};
  for (const key of KEYS) {
    const value = params.get('fm.' + key);
    if (value !== null) state[key] = value;
  }
  return state;
}

function writeHash() {
  const owner = hashOwner();
  const params = new URLSearchParams(owner.location.hash.slice(1));
  if (!ours(params)) return;
  for (const key of [...params.keys()]) if (key.startsWith('fm.')) params.delete(key);
  for (const key of KEYS) {
    const value = app.state[key];
    if (value !== undefined && value !== null && value !== '') params.set('fm.' + key, String(value));
  }
  // URLSearchParams writes 'fmlogger=' for TensorBoard's bare tab name; keep it bare.
  const hash = '#' + params.toString().replace(/^([^=&]+)=(&|$)/, '$1$2');
  if (owner.location.hash !== hash) owner.history.replaceState(owner.history.state, '', hash);
}

function runInfo(name) {
  return app.runs.find((run) => run.name === name) || null;
}

/** Completes the state: first run, first sample, first layer, first step where unset or gone. */
function settle(state) {
  const run = runInfo(state.run) || app.runs[0];
  state.run = run.name;
  state.view = VIEWS.some(([key]) => key === state.view) ? state.view : 'evolution';
  const sample = Number(state.sample);
  state.sample = Number.isInteger(sample) && sample >= 0 && sample < run.samples ? sample : 0;
  if (!run.layers.includes(state.layer)) state.layer = run.layers[0];
  const step = Number(state.step);
  state.step = run.steps.includes(step) ? step : run.steps[0];
  if (!runInfo(state.runB)) state.runB = run.name;
  const stepsB = runInfo(state.runB).steps;
  const stepB = Number(state.stepB);
  state.stepB = stepsB.includes(stepB) ? stepB : stepsB[stepsB.length - 1];
  state.xrow = state.xrow || '';
  state.kind = state.kind === 'pca_rgb' ? 'pca_rgb' : 'feature_maps';
  state.size = ['64', '96', '160', '256'].includes(String(state.size)) ? String(state.size) : '96';
  return state;
}

async function tagsOf(name) {
  if (!app.tags[name]) app.tags[name] = await getJSON('tags', {run: name});
  return app.tags[name];
}

/** Sets state keys, writes the permalink, re-renders the current view. */
async function update(changes) {
  if (!app.runs.length) return;
  Object.assign(app.state, changes);
  settle(app.state);
  writeHash();
  try {
    await draw();
    showStatus('');
  } catch (err) {
    showStatus(`Could not show this view: ${err.message}`);
  }
}

async function draw() {
  const ticket = ++app.drawing;  // a newer draw started meanwhile: let it show instead
  const state = app.state;
  for (const button of app.tabs.querySelectorAll('button')) {
    button.setAttribute('aria-selected', String(button.dataset.view === state.view));
  }
  const ctx = {
    state,
    run: runInfo(state.run),
    runs: app.runs,
    tags: await tagsOf(state.run),
    kinds: app.kinds,
    update,
    runInfo,
    tagsOf,
    nav: (nav) => { app.nav = nav; },
  };
  closeDetail();
  const panel = el('div', {class: 'view'});
  if (state.view === 'compare') await renderCompare(panel, ctx);
  else if (state.view === 'curves') await renderCurves(panel, ctx);
  else renderMatrix(panel, ctx, state.view === 'explanations' ? 'explanations' : state.kind);
  if (ticket !== app.drawing) return;
  clear(app.main).append(panel);
  document.documentElement.style.setProperty('--thumb', state.size + 'px');
  const current = panel.querySelector('.cell.current');  // a fresh table: keep the cell in sight
  if (current) current.scrollIntoView({block: 'nearest', inline: 'nearest'});
}

function showStatus(text) {
  app.status.textContent = text;
  app.status.hidden = !text;
}

function onKey(event) {
  if (event.target instanceof HTMLSelectElement || event.altKey || event.ctrlKey || event.metaKey) return;
  const nav = app.nav;
  if (!nav) return;
  const move = (list, value, delta) => {
    const at = list.map(String).indexOf(String(value));
    return list[Math.min(list.length - 1, Math.max(0, (at < 0 ? 0 : at) + delta))];
  };
  const matrix = app.state.view === 'evolution' || app.state.view === 'explanations';
  const change = {
    ArrowLeft: () => ({[nav.stepKey]: move(nav.steps, app.state[nav.stepKey], -1)}),
    ArrowRight: () => ({[nav.stepKey]: move(nav.steps, app.state[nav.stepKey], +1)}),
    ArrowUp: () => ({[nav.rowKey]: move(nav.rows, app.state[nav.rowKey], -1)}),
    ArrowDown: () => ({[nav.rowKey]: move(nav.rows, app.state[nav.rowKey], +1)}),
    Enter: () => (matrix ? {open: '1'} : null),
    Escape: () => ({open: ''}),
  }[event.key];
  const changes = change && change();
  if (!changes) return;
  event.preventDefault();
  update(changes);
}

function onHashChange() {
  // A permalink pasted into the address bar, or back/forward: show what it names.
  const params = new URLSearchParams(hashOwner().location.hash.slice(1));
  if (!app.runs.length || !ours(params)) return;
  const wanted = readHash();
  if (KEYS.every((key) => String(wanted[key] ?? '') === String(app.state[key] ?? ''))) return;
  app.state = {};
  update(wanted);
}

async function poll() {
  if (document.visibilityState !== 'visible') return;
  try {
    const answer = await getJSON('runs');
    const before = JSON.stringify(app.runs.map((run) => [run.name, run.steps, run.layers]));
    const after = JSON.stringify(answer.runs.map((run) => [run.name, run.steps, run.layers]));
    app.runs = answer.runs;
    if (before !== after && app.runs.length) {
      app.tags = {};
      await update({});
    } else {
      showStatus('');
    }
  } catch (err) {
    showStatus(`Could not refresh: ${err.message}`);
  }
}

function shell() {
  app.tabs = el('nav', {class: 'tabs', role: 'tablist'});
  for (const [key, label] of VIEWS) {
    app.tabs.append(el('button', {role: 'tab', 'data-view': key, text: label,
      onclick: () => update({view: key, open: ''})}));
  }
  app.status = el('p', {class: 'status', role: 'status', hidden: true});
  app.main = el('main', {});
  app.root = el('div', {class: 'fm-app'},
    el('header', {}, el('h1', {text: 'Feature Maps'}), app.tabs), app.status, app.main);
  document.body.append(app.root);
}

/** Called by TensorBoard's plugin page once this module is imported. */
export async function render() {
  document.head.append(el('link', {rel: 'stylesheet', href: 'style.css'}));
  shell();
  try {
    const answer = await getJSON('runs');
    app.runs = answer.runs;
    app.kinds = answer.kinds;
  } catch (err) {
    showStatus(`Could not list the runs: ${err.message}`);
    return;
  }
  if (!app.runs.length) {
    showStatus('No fmlogger runs in this log folder yet (a run folder holds fmlogger_state.json).');
  } else {
    await update(readHash());
  }
  document.addEventListener('keydown', onKey);
  hashOwner().addEventListener('hashchange', onHashChange);
  setInterval(poll, POLL_MS);
  window.focus();
}
