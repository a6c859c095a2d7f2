// DOM building and formatting helpers. Text always goes in as textContent:
// nothing from the API is ever parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child).
// Attribute values of null, undefined or false are skipped.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) el.dataset[dk] = dv;
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps an element's children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const intFmt = new Intl.NumberFormat('en-US');
const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function fmtInt(n) { return intFmt.format(Math.round(n || 0)); }
export function fmtDec(n) { return decFmt.format(n || 0); }

// fmtRate formats a rate in targets per second.
export function fmtRate(r) {
  if (!r) return '0/s';
  return (r >= 100 ? fmtInt(r) : fmtDec(r)) + '/s';
}

// fmtDur formats milliseconds as "850ms", "12.3s", "4m05s", "2h03m".
export function fmtDur(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '–';
  if (ms < 1000) return Math.max(0, Math.round(ms)) + 'ms';
  const sec = ms / 1000;
  if (sec < 60) return fmtDec(sec) + 's';
  const m = Math.floor(sec / 60), s2 = Math.floor(sec % 60);
  if (m < 60) return `${m}m${String(s2).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d${hr % 24}h`;
}

// fmtAge formats the time since an RFC 3339 time as "5s ago".
export function fmtAge(t) {
  if (!t) return '–';
  return fmtDur(Date.now() - Date.parse(t)) + ' ago';
}

// Times are shown in ISO 8601 with their zone: local time with its offset
// ("2026-12-04 19:40:03 +01:00"), or UTC ("2026-12-04 18:40:03Z") when the
// header's UTC toggle is on (kept in localStorage).
const UTC_KEY = 'salvo.utc';

export function utcTimes() {
  try {
    return localStorage.getItem(UTC_KEY) === '1';
  } catch {
    return false;
  }
}

// setUtcTimes switches every time shown, now and later, to UTC or back.
export function setUtcTimes(on) {
  try {
    localStorage.setItem(UTC_KEY, on ? '1' : '0');
  } catch {
    // storage refused (private mode): the toggle lasts for the page
  }
  utcOverride = !!on;
  for (const el of document.querySelectorAll('time.ts')) el.textContent = isoTime(el.dateTime);
}
let utcOverride = null;
const useUtc = () => (utcOverride !== null ? utcOverride : utcTimes());

const pad = (n) => String(n).padStart(2, '0');

// isoTime formats an RFC 3339 time (or a Date) as the toggle says.
export function isoTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (isNaN(d)) return String(t);
  if (useUtc()) {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
  }
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${off < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// fmtTime is isoTime, or "–" for no time.
export function fmtTime(t) {
  return t ? isoTime(t) : '–';
}

// timeEl shows a time as a <time> element that the UTC toggle updates.
export function timeEl(t, attrs) {
  if (!t) return '–';
  return h('time', { ...attrs, class: 'ts' + (attrs?.class ? ' ' + attrs.class : ''), datetime: t, title: t }, isoTime(t));
}

export function pct(part, whole) {
  if (!whole) return 0;
  return Math.min(100, (100 * part) / whole);
}

export function fmtPct(part, whole) {
  const p = pct(part, whole);
  if (p === 100 && part < whole) return '99.9%';
  return (p >= 10 || p === 0 ? Math.floor(p) : fmtDec(p)) + '%';
}

// truncate shortens a string to n characters with an ellipsis.
export function truncate(str, n) {
  str = String(str ?? '');
  return str.length > n ? str.slice(0, n) + '…' : str;
}

// badge is a state label styled by its state.
export function badge(state, extra) {
  return h('span', { class: `badge st-${state}` + (extra ? ' ' + extra : '') }, state || '–');
}

const TERMINAL = new Set(['gathered', 'cancelled', 'failed']);
export function terminal(state) { return TERMINAL.has(state); }

export const JOB_STATES = ['waiting', 'processing', 'paused', 'finishedNotGathered', 'gathered', 'cancelled', 'failed'];
export const RESULT_STATES = ['ok', 'failed', 'error', 'timeout', 'skipped', 'cancelled'];

// progressOf is how far a job went: the results that ran (done without
// the cancelled ones, which never ran) and the cancelled ones, as shares of
// the total. A cancelled job shows the share really done, not 100 %.
export function progressOf(st) {
  const total = st.total || 0;
  const cancelled = st.counts?.cancelled || 0;
  const ran = Math.max(0, (st.done || 0) - cancelled);
  return { total, ran, cancelled, pct: fmtPct(ran, total), cancelledPct: fmtPct(cancelled, total) };
}

// progressText is "37% · 1,110 / 3,000 · 1,890 cancelled".
export function progressText(st) {
  const p = progressOf(st);
  return `${p.pct} · ${fmtInt(p.ran)} / ${fmtInt(p.total)}` + (p.cancelled ? ` · ${fmtInt(p.cancelled)} cancelled` : '');
}

// ranText says briefly what a job runs: "GET /health", "$ uptime".
export function ranText(st, n = 80) {
  const r = st.ran || {};
  if (r.command) return '$ ' + truncate(r.command.replace(/\s+/g, ' '), n);
  if (r.method || r.path) return truncate(`${r.method || 'GET'} ${r.path || '/'}`, n);
  return '';
}

// protocolOf is a job's protocol, upper case (HTTP, SSH).
export function protocolOf(st) {
  return (st.ran?.protocol || st.protocol || 'http').toUpperCase();
}

// stackedBar draws a job's counts as segments of its total.
export function stackedBar(st) {
  const total = st.total || 0;
  const c = st.counts || {};
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': st.done || 0 });
  for (const k of ['ok', 'failed', 'error', 'timeout', 'skipped', 'cancelled']) {
    if (!c[k]) continue;
    const seg = h('div', { class: `seg seg-${k}`, title: `${k}: ${fmtInt(c[k])}` });
    seg.style.width = pct(c[k], total) + '%';
    bar.append(seg);
  }
  return bar;
}
