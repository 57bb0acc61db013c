// DOM and data helpers of the Feature Maps dashboard. Names from disk (runs, tags, layers) are
// untrusted: they only ever become text (textContent) or attribute values, never markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: el('td', {class: 'x', text: name}, child, 'more text'). */
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, made with createElementNS. */
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A <select> of [value, label] pairs with `selected` chosen; calls onChange(value). */
export function select(label, options, selected, onChange) {
  const node = el('select', {'aria-label': label, onchange: () => onChange(node.value)});
  for (const [value, text] of options) {
    const option = el('option', {value, text});
    option.selected = String(value) === String(selected);
    node.append(option);
  }
  return el('label', {class: 'control'}, el('span', {text: label}), node);
}

/** JSON from a plugin route (relative to <base href="plugin/fmlogger/">). */
export async function getJSON(route, params) {
  const query = params ? '?' + new URLSearchParams(params).toString() : '';
  const response = await fetch(route + query);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${route}: HTTP ${response.status}`);
  return body;
}

/** The URL of one logged image; `version` (the record's serial) makes rewritten steps new URLs. */
export function imageURL(run, tag, step, sample, version) {
  const params = new URLSearchParams({run, tag, step: String(step), sample: String(sample)});
  if (version !== undefined) params.set('v', String(version));
  return 'image?' + params.toString();
}

/** Removes every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/** The short form of a probe fingerprint: the first 12 hex digits of its SHA-256. */
export function shortHash(probe) {
  return probe && probe.sha256 ? String(probe.sha256).slice(0, 12) : '?';
}
