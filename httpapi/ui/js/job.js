// Job page: what the job ran, live progress from its event stream, the
// rate over time (the whole run from GET /rate once it is finished),
// per-worker concurrency, the aggregation table (by value, status or exit
// code, error class, output with its outcome and stderr parts, stderr)
// with each group's hosts, a host search showing full result records, a
// paged results browser with NDJSON and CSV export, cancel and rerun.
import * as api from './api.js';
import { rateChart, seriesPoints } from './chart.js';
import { rolloutPanel } from './rollout.js';
import {
  h, replace, badge, fmtInt, fmtRate, fmtDur, fmtPct, pct, truncate, stackedBar, terminal, RESULT_STATES,
  timeEl, progressOf, protocolOf,
} from './dom.js';

const AGG_BY = ['value', 'status', 'errorClass', 'body', 'stderr'];
const GROUP_PAGE = 25;
const RESULT_PAGE = 25;
const FOLDED_SHOWN = 4000; // characters of a folded host list shown before "show all"
// States of results that got no answer: their output is named by why
// ("[error: connect_refused]"), not by a body.
const NO_ANSWER = new Set(['error', 'timeout', 'skipped', 'cancelled']);
// What "Rerun failed" reruns.
const RERUN_STATES = ['failed', 'error', 'timeout'];

// outcomeLabel names the outcome of a by=body group: "exit 4 · failed",
// "exit 0", "HTTP 503 · failed", "HTTP 200", "error (connect_refused)".
export function outcomeLabel(g) {
  const state = g.state || '';
  let code = '';
  if (g.statusCode) code = 'HTTP ' + g.statusCode;
  else if (g.exitCode !== undefined && g.exitCode !== null) code = 'exit ' + g.exitCode;
  if (!code) {
    return (state || 'no answer') + (g.errorClass && g.errorClass !== state ? ` (${g.errorClass})` : '');
  }
  let label = state && state !== 'ok' ? `${code} · ${state}` : code;
  if (g.errorClass) label += ` (${g.errorClass})`;
  return label;
}

// outputCell shows an output (a body, stdout or stderr): "(empty)" when
// there is none, "(no answer)" for a result that got none.
function outputCell(value, state) {
  if (NO_ANSWER.has(state) && value.startsWith('[' + state)) return h('span', { class: 'muted no-output' }, '(no answer)');
  if (value === '') return h('span', { class: 'muted no-output' }, '(empty)');
  return h('pre', { class: 'bodyval' }, truncate(value, 400));
}

// showsParts says whether a by=body group's stderr parts are worth a row
// each: not for results without an answer, nor for one part without stderr.
function showsParts(g) {
  const parts = g.stderr || [];
  if (!parts.length || NO_ANSWER.has(g.state)) return false;
  return parts.length > 1 || parts[0].value !== '' || !!g.stderrMore;
}

export function mount(root, ctx, id) {
  const base = api.jobPath(id);
  let st = null;
  let events = 0;
  let ssh = false;
  let canOperate = false; // until whoami says the caller may (no flash of buttons a viewer cannot use)

  // ---- header and progress -------------------------------------------------
  const title = h('h1', { id: 'job-title' }, id);
  const protoEl = h('span', { id: 'job-protocol', class: 'badge proto' });
  const stateEl = h('span', { id: 'job-state' });
  const reason = h('p', { id: 'job-reason', class: 'reason' });
  const rerunBtn = h('button', { type: 'button', id: 'rerun-btn', class: 'primary', hidden: true,
    title: 'A new job with this job\'s spec over its failed, error and timeout targets' }, 'Rerun failed');
  const cancelBtn = h('button', { type: 'button', id: 'cancel-btn', class: 'danger', disabled: true }, 'Cancel job');
  const cancelMsg = h('span', { class: 'error', id: 'cancel-msg', role: 'alert' });
  const rerunMsg = h('p', { class: 'error', id: 'rerun-msg', role: 'alert' });
  const meta = h('div', { class: 'meta', id: 'job-meta' });
  const ranEl = h('dl', { id: 'job-ran', class: 'ran' });
  const barBox = h('div', { id: 'progress-bar' });
  const pctEl = h('span', { id: 'progress-pct', class: 'big' }, '0%');
  const progText = h('span', { id: 'progress-text', class: 'muted' });
  const counts = {};
  const countCards = ['done', 'ok', 'failed', 'error', 'timeout', 'skipped', 'cancelled'].map((k) => {
    counts[k] = h('div', { class: 'card-value', id: 'count-' + k }, '0');
    return h('div', { class: `card c-${k}` }, h('div', { class: 'card-label' }, k), counts[k]);
  });
  const rateNow = h('div', { class: 'card-value', id: 'rate-now' }, '–');
  const rateAvg = h('div', { class: 'card-value', id: 'rate-avg' }, '–');
  const elapsed = h('div', { class: 'card-value', id: 'elapsed' }, '–');
  const chart = rateChart();
  const chartNote = h('p', { class: 'muted small', id: 'chart-note' });
  const workersBody = h('tbody', { id: 'workers' });
  const workersNote = h('p', { class: 'muted small', id: 'workers-note' });
  const live = h('span', { id: 'live', class: 'live' });

  root.append(
    h('div', { class: 'title-row' }, h('div', {}, title, h('div', { class: 'muted small', id: 'job-id' }, id)),
      h('div', { class: 'actions' }, live, protoEl, stateEl, rerunBtn, cancelBtn)),
    cancelMsg, rerunMsg, reason, meta,
    h('section', { class: 'panel' }, h('h2', {}, 'Ran'), ranEl),
    h('section', { class: 'panel' },
      h('div', { class: 'progress-head' }, pctEl, progText), barBox,
      h('div', { class: 'cards' }, countCards,
        h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'rate now'), rateNow),
        h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'rate average'), rateAvg),
        h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'elapsed'), elapsed))),
    h('div', { class: 'two-col' },
      h('section', { class: 'panel' }, h('h2', {}, 'Targets per second'), chart.el, chartNote),
      h('section', { class: 'panel' }, h('h2', {}, 'Workers'),
        h('table', { class: 'grid' }, h('thead', {}, h('tr', {},
          h('th', {}, 'Worker'), h('th', { class: 'num' }, 'Requests'), h('th', { class: 'num' }, 'Responses'),
          h('th', { class: 'num' }, 'Concurrency'), h('th', { class: 'wide' }, 'In flight'))), workersBody), workersNote)),
  );
  const rollout = rolloutPanel(base, ctx, (s) => render(s)); // batches, budget, Pause and Resume (rollout.js)
  root.append(rollout.el);

  // ---- live status -----------------------------------------------------------
  const samples = []; // {now (ms, performance clock), done}
  const points = []; // {t (s since start), rate}
  let t0 = null; // performance clock at the first sample, and its offset from the job's start
  let offset = 0;
  // The whole run's rate from GET /rate, once the job is finished.
  let series = null; // {points, end, bucketMs}

  function sample(s) {
    if (!s.startedAt || terminal(s.state)) return;
    const now = performance.now();
    if (t0 === null) {
      t0 = now;
      offset = Math.max(0, (Date.now() - Date.parse(s.startedAt)) / 1000);
    }
    samples.push({ now, done: s.done });
    // The rate over the last second or so: events come every 250 ms.
    while (samples.length > 2 && now - samples[1].now >= 1000) samples.shift();
    const old = samples[0];
    if (now - old.now < 200) return;
    const rate = ((s.done - old.done) * 1000) / (now - old.now);
    points.push({ t: offset + (now - t0) / 1000, rate: Math.max(0, rate) });
    if (points.length > 1200) points.splice(0, points.length - 1200);
  }

  function render(s) {
    st = s;
    ssh = (s.ran?.protocol || s.protocol) === 'ssh';
    title.textContent = s.name || 'job';
    protoEl.textContent = protocolOf(s);
    replace(stateEl, badge(s.state));
    root.dataset.state = s.state;
    root.dataset.protocol = ssh ? 'ssh' : 'http';
    reason.textContent = s.reason || '';
    cancelBtn.hidden = !canOperate;
    cancelBtn.disabled = terminal(s.state);
    const bad = RERUN_STATES.reduce((n, k) => n + (s.counts?.[k] || 0), 0);
    rerunBtn.hidden = !canOperate || !terminal(s.state) || bad === 0;
    if (!rerunBtn.disabled) rerunBtn.textContent = `Rerun failed (${fmtInt(bad)})`;
    replace(meta,
      metaItem('created', timeEl(s.createdAt, { id: 'job-created' })),
      metaItem('started', timeEl(s.startedAt, { id: 'job-started' })),
      metaItem('finished', timeEl(s.finishedAt, { id: 'job-finished' })),
      metaItem('max concurrency', fmtInt(s.maxConcurrency)),
      metaItem('sent', fmtInt(s.sent)));
    renderRan(s);
    labelTabs();
    replace(barBox, stackedBar(s));
    const p = progressOf(s);
    pctEl.textContent = p.pct;
    progText.textContent = p.cancelled
      ? `${fmtInt(p.ran)} of ${fmtInt(p.total)} targets ran · ${fmtInt(p.cancelled)} cancelled (${p.cancelledPct})`
      : `${fmtInt(s.done)} of ${fmtInt(s.total)} targets`;
    counts.done.textContent = fmtInt(s.done);
    for (const k of RESULT_STATES) counts[k].textContent = fmtInt(s.counts?.[k]);
    const last = points[points.length - 1];
    rateNow.textContent = terminal(s.state) ? '–' : last ? fmtRate(last.rate) : '–';
    rateAvg.textContent = fmtRate(s.rate);
    if (s.startedAt) {
      const end = s.finishedAt ? Date.parse(s.finishedAt) : Date.now();
      elapsed.textContent = fmtDur(end - Date.parse(s.startedAt));
    }
    drawChart();
    renderWorkers(s);
    rollout.render(s);
  }

  function drawChart() {
    if (series) {
      chart.draw(series.points, st.rate, series.end);
      chart.el.dataset.series = 'history';
      chartNote.textContent = `The whole run: answers per span of ${fmtDur(series.bucketMs)}; the dashed line is the average.`;
      return;
    }
    chart.draw(points, st.rate);
    chart.el.dataset.series = 'live';
    chartNote.textContent = points.length > 1 ? '' : terminal(st.state) ? 'No answer to draw; the line is the average.' : 'Waiting for progress…';
  }

  // loadSeries reads a finished job's whole rate history (GET /rate: at
  // most 120 spans of its run time) and draws it instead of what the page
  // saw live.
  async function loadSeries() {
    let data;
    try {
      data = await api.get(base + '/rate', ctx.signal);
    } catch (err) {
      if (!api.isAbort(err)) chartNote.textContent = 'Rate history: ' + err.message;
      return;
    }
    const { points: pts, end } = seriesPoints(data);
    if (pts.length < 2) return;
    series = { points: pts, end, bucketMs: data.bucketMs };
    if (st) drawChart();
  }

  // What the job ran, from its status's ran: rebuilt only when it changes,
  // so that its link is not swapped under the pointer.
  let ranSig = '';
  function renderRan(s) {
    const r = s.ran || {};
    const sig = JSON.stringify([r, s.rerunOf, s.protocol, s.total]);
    if (sig === ranSig) return;
    ranSig = sig;
    const agg = r.aggregation;
    const rows = [
      ['protocol', 'protocol', protocolOf(s)],
      r.command
        ? ['command', 'command', h('pre', { class: 'cmd' }, r.command)]
        : ['request', 'request', h('code', {}, `${r.method || 'GET'} ${r.path || '/'}`)],
      ['aggregation', 'aggregation', agg ? [agg.name ? `${agg.name}: ` : '', agg.regex ? h('code', {}, agg.regex) : ''] : '–'],
      ['node-group', 'node group', r.nodeGroup || '–'],
      ['command-name', 'command template', r.commandName || '–'],
      ['targets', 'targets', fmtInt(r.targets ?? s.total)],
      ['tags', 'tags', (r.tags || []).length ? r.tags.map((t) => h('span', { class: 'chip tag' }, t)) : '–'],
      ['submitted-by', 'submitted by', r.submittedBy || h('span', { class: 'muted' }, '– (no authentication)')],
    ];
    if (s.rerunOf) {
      rows.push(['rerun-of', 'reruns', h('a', { href: '#/job/' + encodeURIComponent(s.rerunOf), id: 'rerun-of-link' }, s.rerunOf)]);
    }
    replace(ranEl, rows.map(([k, label, v]) => [h('dt', {}, label), h('dd', { id: 'ran-' + k }, v)]));
  }

  // The workers' figures as last seen while the job ran: a finished job's
  // status has none, and its page keeps showing who did the work.
  let lastWorkers = {};
  function renderWorkers(s) {
    let workers = s.workers || {};
    let stale = false;
    if (Object.keys(workers).length) {
      lastWorkers = workers;
    } else if (terminal(s.state) && Object.keys(lastWorkers).length) {
      workers = lastWorkers;
      stale = true;
    }
    const names = Object.keys(workers).sort();
    workersNote.textContent = stale ? 'As last seen while the job ran.' : '';
    if (!names.length) {
      replace(workersBody, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, terminal(s.state) ? 'No worker holds this job.' : 'No worker yet.')));
      return;
    }
    replace(workersBody, names.map((n) => {
      const w = workers[n];
      const bar = h('div', { class: 'capbar small-bar' });
      const fill = h('div', { class: 'cap-inflight' });
      fill.style.width = pct(w.inFlight, Math.max(w.concurrency, s.maxConcurrency)) + '%';
      bar.append(fill);
      return h('tr', { dataset: { worker: n } },
        h('td', {}, n),
        h('td', { class: 'num' }, fmtInt(w.requests)),
        h('td', { class: 'num' }, fmtInt(w.responses)),
        h('td', { class: 'num', title: 'effective concurrency / the job\'s maxConcurrency' },
          `${fmtInt(w.concurrency)} / ${fmtInt(s.maxConcurrency)}`),
        h('td', { class: 'wide' }, bar, h('span', { class: 'small' }, fmtInt(w.inFlight))));
    }));
  }

  function openStream() {
    const es = new EventSource(base + '/events');
    ctx.onStop(() => es.close());
    live.textContent = 'live';
    live.className = 'live on';
    const onStatus = (e) => {
      events++;
      root.dataset.events = String(events);
      const s = JSON.parse(e.data);
      sample(s);
      render(s);
    };
    es.addEventListener('progress', onStatus);
    es.addEventListener('end', (e) => {
      es.close();
      onStatus(e);
      live.textContent = '';
      live.className = 'live';
      finished();
    });
    es.addEventListener('error', () => {
      // EventSource reconnects by itself unless the answer was not a stream.
      live.textContent = es.readyState === EventSource.CLOSED ? 'stream closed' : 'reconnecting…';
      live.className = 'live off';
    });
  }

  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    cancelMsg.textContent = '';
    try {
      render(await api.post(base + '/cancel', undefined, ctx.signal));
    } catch (err) {
      if (!api.isAbort(err)) {
        cancelMsg.textContent = err.message;
        cancelBtn.disabled = st ? terminal(st.state) : false;
      }
    }
  });

  rerunBtn.addEventListener('click', async () => {
    rerunBtn.disabled = true;
    rerunMsg.textContent = '';
    try {
      const job = await api.post(base + '/rerun', { states: RERUN_STATES }, ctx.signal);
      location.hash = '#/job/' + encodeURIComponent(job.id);
    } catch (err) {
      if (api.isAbort(err)) return;
      rerunMsg.textContent = `Rerun: ${err.message}`;
      rerunBtn.disabled = false;
    }
  });

  api.whoami().then((me) => {
    canOperate = api.mayOperate(me);
    if (st) render(st);
  });

  // ---- aggregation -----------------------------------------------------------
  let by = 'value';
  const tabLabel = (k) => ({
    value: 'Value', status: ssh ? 'Exit code' : 'Status', errorClass: 'Error class', body: 'Output', stderr: 'Stderr',
  })[k];
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, AGG_BY.map((k) =>
    h('button', { type: 'button', role: 'tab', 'data-by': k, class: k === by ? 'active' : null }, tabLabel(k))));
  function labelTabs() {
    for (const b of tabs.children) b.textContent = tabLabel(b.dataset.by);
  }
  const aggHead = h('thead', { id: 'agg-head' });
  const aggBody = h('tbody', { id: 'agg' });
  const aggInfo = h('span', { class: 'muted small', id: 'agg-info' });
  const aggRefresh = h('button', { type: 'button', id: 'agg-refresh' }, 'Refresh');
  const groupPanel = h('div', { id: 'group-panel', class: 'group-panel', hidden: true });

  tabs.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-by]');
    if (!b) return;
    by = b.dataset.by;
    for (const t of tabs.children) t.classList.toggle('active', t === b);
    groupPanel.hidden = true;
    loadAgg();
  });
  aggRefresh.addEventListener('click', () => loadAgg());

  function headRow(key) {
    const cols = key === 'body'
      ? [h('th', {}, 'Outcome'), h('th', {}, ssh ? 'Stdout' : 'Body')]
      : [h('th', { id: 'agg-value-head' }, key === 'status' ? (ssh ? 'Exit code' : 'Status') : tabLabel(key))];
    return h('tr', {}, cols, h('th', { class: 'num' }, 'Count'), h('th', { class: 'num' }, '%'),
      h('th', {}, ''), h('th', {}, 'Hosts'));
  }

  // shareBar is a group's share of the results, coloured by its state.
  function shareBar(count, total, state) {
    const bar = h('div', { class: 'bar thin' }, h('div', { class: `seg seg-${state}` }));
    bar.firstChild.style.width = pct(count, total) + '%';
    return bar;
  }

  // clickable makes a row open a group's hosts.
  function clickable(tr, open) {
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    return tr;
  }

  async function loadAgg() {
    const key = by;
    const limit = key === 'body' || key === 'stderr' ? 20 : 50;
    const cols = key === 'body' ? 6 : 5;
    let data;
    try {
      data = await api.get(base + '/aggregate' + api.query({ by: key, limit }), ctx.signal);
    } catch (err) {
      if (api.isAbort(err)) return;
      replace(aggBody, h('tr', {}, h('td', { colspan: cols, class: 'error' }, err.message)));
      return;
    }
    if (key !== by) return; // the tab changed meanwhile
    replace(aggHead, headRow(key));
    aggBody.dataset.by = key;
    const groups = data.groups || [];
    // Shares are of every stored result, also when only the largest groups came.
    const sum = groups.reduce((n, g) => n + g.count, 0);
    const total = Math.max(sum, st ? st.done : 0);
    aggInfo.textContent = `${fmtInt(groups.length)} group${groups.length === 1 ? '' : 's'}` +
      (groups.length >= limit ? ` (the largest ${limit})` : '') + ` · ${fmtInt(sum)} results`;
    if (!groups.length) {
      replace(aggBody, h('tr', {}, h('td', { colspan: cols, class: 'muted' }, 'No results yet.')));
      return;
    }
    if (key === 'body') {
      replace(aggBody, groups.map((g, i) => bodyRows(g, i, total)));
      return;
    }
    replace(aggBody, groups.map((g, i) => {
      // Only an output group knows its results' state: other groups are
      // red when they got no answer, neutral otherwise.
      const state = g.isError ? 'error' : 'group';
      const valueCell = key === 'stderr' ? outputCell(g.value, '') : h('span', { class: 'val' }, g.value === '' ? '(empty)' : g.value);
      const tr = h('tr', {
        class: 'clickable' + (g.isError ? ' is-error' : ''), tabindex: 0, title: 'Show the hosts of this group',
        dataset: { group: String(i), index: String(g.index), value: key === 'stderr' ? null : g.value },
      },
      h('td', {}, valueCell),
      h('td', { class: 'num' }, fmtInt(g.count)),
      h('td', { class: 'num' }, fmtPct(g.count, total)),
      h('td', { class: 'share' }, shareBar(g.count, total, state)),
      h('td', { class: 'folded' }, truncate(g.folded, 160)));
      return clickable(tr, () => openGroup(key, g));
    }));
  }

  // bodyRows are the rows of a by=body group: its outcome, output, count
  // and hosts, then a row per stderr part.
  function bodyRows(g, i, total) {
    const state = g.state || (g.isError ? 'error' : 'ok');
    const label = outcomeLabel(g);
    const rows = [clickable(h('tr', {
      class: 'clickable agg-group' + (state !== 'ok' ? ' is-error' : ''), tabindex: 0, title: 'Show the hosts of this group',
      dataset: { group: String(i), index: String(g.index), state },
    },
    h('td', {}, h('span', { class: `badge outcome st-${state}` }, label)),
    h('td', { class: 'output' }, outputCell(g.value, state)),
    h('td', { class: 'num' }, fmtInt(g.count)),
    h('td', { class: 'num' }, fmtPct(g.count, total)),
    h('td', { class: 'share' }, shareBar(g.count, total, state)),
    h('td', { class: 'folded' }, truncate(g.folded, 160))), () => openGroup('body', g))];
    if (!showsParts(g)) return rows;
    (g.stderr || []).forEach((part, j) => {
      rows.push(clickable(h('tr', {
        class: 'clickable stderr-part', tabindex: 0, title: 'Show the hosts of this stderr part',
        dataset: { group: String(i), part: String(j), index: String(part.index), state },
      },
      h('td', { class: 'part-label' }, '↳ stderr'),
      h('td', { class: 'output' }, outputCell(part.value, '')),
      h('td', { class: 'num' }, fmtInt(part.count)),
      h('td', { class: 'num' }, fmtPct(part.count, total)),
      h('td', { class: 'share' }, shareBar(part.count, total, state)),
      h('td', { class: 'folded' }, truncate(part.folded, 160))), () => openGroup('body', g, part)));
    });
    if (g.stderrMore) {
      rows.push(h('tr', { class: 'stderr-more', dataset: { group: String(i) } }, h('td', {}, ''),
        h('td', { colspan: 5, class: 'muted small' },
          `… ${fmtInt(g.stderrMore)} more result${g.stderrMore === 1 ? '' : 's'} in ${fmtInt(g.stderrMoreGroups)} other stderr output${g.stderrMoreGroups === 1 ? '' : 's'}: see the Stderr tab.`)));
    }
    return rows;
  }

  // ---- a group's hosts ---------------------------------------------------------
  let grp = null; // {by, g, part, cursors, page, next}

  // The aggregate answer folds at most this many hosts of a group
  // (store.MaxGroupHosts); hostsCursor is set when the group has more.
  const HOSTS_FOLDED_MAX = 1000;

  function openGroup(key, g, part) {
    grp = { by: key, g, part: part || null, cursors: [''], page: 0, next: '' };
    groupPanel.hidden = false;
    loadGroup();
    groupPanel.scrollIntoView({ block: 'nearest' });
  }

  async function loadGroup() {
    const { by: key, g, part } = grp;
    const shown = part || g; // the group or stderr part listed
    const folded = shown.folded || '';
    const foldedEl = h('pre', { class: 'folded-all', id: 'group-folded' }, truncate(folded, FOLDED_SHOWN));
    const showAll = folded.length > FOLDED_SHOWN
      ? h('button', { type: 'button', class: 'link', onclick: () => { foldedEl.textContent = folded; showAll.remove(); } }, 'show all')
      : null;
    const rowsBody = h('tbody', { id: 'group-hosts' });
    const pager = h('div', { class: 'pager' });
    let heading;
    if (key === 'body' && part) {
      heading = ['stderr ', h('code', {}, truncate(part.value, 80) || '(empty)'), ' of ', h('code', {}, outcomeLabel(g))];
    } else if (key === 'body') {
      heading = ['Output ', h('code', {}, outcomeLabel(g)), ' ', h('code', {}, truncate(g.value, 80) || '(empty)')];
    } else {
      heading = [`${tabLabel(key)} `, h('code', {}, truncate(g.value, 80) || '(empty)')];
    }
    replace(groupPanel,
      h('div', { class: 'title-row' },
        h('h3', { id: 'group-title' }, heading, ` · ${fmtInt(shown.count)} hosts`),
        h('button', { type: 'button', onclick: () => { groupPanel.hidden = true; } }, 'Close')),
      h('div', { class: 'muted small' }, shown.hostsCursor
        ? `The first ${fmtInt(HOSTS_FOLDED_MAX)} of ${fmtInt(shown.hostsTotal ?? shown.count)} hosts, folded (the table pages them all):`
        : 'Every host, folded:'), foldedEl, showAll,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {},
        h('th', { class: 'num' }, '#'), h('th', {}, 'Host'), h('th', {}, 'State'), h('th', {}, 'Value'))), rowsBody),
      pager);

    let data;
    try {
      // The group is named by its index (the group of that result), a
      // stderr part of an output group with stderr=same.
      data = await api.get(base + '/group' + api.query({
        by: key, index: shown.index, stderr: part ? 'same' : '', limit: GROUP_PAGE, cursor: grp.cursors[grp.page],
      }), ctx.signal);
    } catch (err) {
      if (!api.isAbort(err)) replace(rowsBody, h('tr', {}, h('td', { colspan: 4, class: 'error' }, err.message)));
      return;
    }
    grp.next = data.nextCursor || '';
    const items = data.items || [];
    replace(rowsBody, items.length ? items.map((r) => h('tr', {},
      h('td', { class: 'num muted' }, r.index ?? ''),
      h('td', {}, hostButton(r.host)),
      h('td', {}, r.state ? badge(r.state) : ''),
      h('td', {}, r.value ?? ''))) :
      h('tr', {}, h('td', { colspan: 4, class: 'muted' }, grp.next ? 'None in this stretch of the job: go on with Next.' : 'No more hosts.')));
    const prev = h('button', { type: 'button', disabled: grp.page === 0 }, '← Previous');
    const next = h('button', { type: 'button', disabled: !grp.next }, 'Next →');
    prev.addEventListener('click', () => { grp.page--; loadGroup(); });
    next.addEventListener('click', () => { grp.cursors[grp.page + 1] = grp.next; grp.page++; loadGroup(); });
    replace(pager, prev, h('span', { class: 'muted' }, `page ${grp.page + 1}`), next);
  }

  // ---- host search ---------------------------------------------------------------
  const hostInput = h('input', { type: 'search', id: 'host-input', placeholder: 'host, e.g. 10.0.0.1', 'aria-label': 'Host', autocomplete: 'off' });
  const hostForm = h('form', { id: 'host-form', class: 'inline-form' }, hostInput, h('button', { type: 'submit', class: 'primary' }, 'Find host'));
  const hostRecord = h('div', { id: 'host-record' });
  hostForm.addEventListener('submit', (e) => {
    e.preventDefault();
    findHost(hostInput.value.trim());
  });

  function hostButton(host) {
    return h('button', { type: 'button', class: 'link host', onclick: () => { hostInput.value = host; findHost(host); } }, host);
  }

  async function findHost(host) {
    if (!host) return;
    replace(hostRecord, h('p', { class: 'muted' }, 'Searching…'));
    let data;
    try {
      data = await api.get(base + '/results' + api.query({ host, limit: 20 }), ctx.signal);
    } catch (err) {
      if (!api.isAbort(err)) replace(hostRecord, h('p', { class: 'error' }, err.message));
      return;
    }
    if (!data.items.length) {
      replace(hostRecord, h('p', { class: 'muted', id: 'host-none' },
        `No result for ${host}` + (st && !terminal(st.state) ? ' yet.' : '. Hosts are matched exactly, without the port.')));
      return;
    }
    replace(hostRecord, data.items.map((r) => recordView(r, ssh)),
      data.nextCursor ? h('p', { class: 'muted' }, 'More results of this host exist (it is listed several times).') : null);
    hostRecord.scrollIntoView({ block: 'nearest' });
  }

  // ---- results browser -----------------------------------------------------------
  const resState = h('select', { id: 'res-state', 'aria-label': 'Result state' },
    h('option', { value: '' }, 'every state'), RESULT_STATES.map((s) => h('option', { value: s }, s)));
  const resQ = h('input', { type: 'search', id: 'res-q', placeholder: 'text in body, stderr, error or value', 'aria-label': 'Text' });
  const resForm = h('form', { id: 'res-form', class: 'inline-form' }, resState, resQ, h('button', { type: 'submit' }, 'Filter'));
  const resCodeHead = h('th', { class: 'num', id: 'res-code-head' }, 'Status');
  const resOutHead = h('th', { id: 'res-out-head' }, 'Body or error');
  const resBody = h('tbody', { id: 'results' });
  const resPager = h('div', { class: 'pager' });
  // Downloads of every result the table's filter keeps (GET /results?format=).
  const exportNDJSON = h('a', { class: 'button', id: 'export-ndjson', download: true, title: 'Every result the filter keeps, one JSON object a line' }, 'Export NDJSON');
  const exportCSV = h('a', { class: 'button', id: 'export-csv', download: true, title: 'Every result the filter keeps, the columns of salvo results --output csv' }, 'Export CSV');
  // The filter applied: a state chosen applies at once, a text on Filter.
  let filter = { state: '', q: '' };
  let res = { cursors: [''], page: 0, next: '' };
  function applyFilter() {
    filter = { state: resState.value, q: resQ.value };
    exportNDJSON.href = base + '/results' + api.query({ format: 'ndjson', ...filter });
    exportCSV.href = base + '/results' + api.query({ format: 'csv', ...filter });
    res = { cursors: [''], page: 0, next: '' };
  }
  applyFilter();
  resState.addEventListener('change', () => { applyFilter(); loadResults(); });
  resForm.addEventListener('submit', (e) => {
    e.preventDefault();
    applyFilter();
    loadResults();
  });

  async function loadResults() {
    let data;
    try {
      data = await api.get(base + '/results' + api.query({
        ...filter, limit: RESULT_PAGE, cursor: res.cursors[res.page],
      }), ctx.signal);
    } catch (err) {
      if (!api.isAbort(err)) replace(resBody, h('tr', {}, h('td', { colspan: 7, class: 'error' }, err.message)));
      return;
    }
    resCodeHead.textContent = ssh ? 'Exit code' : 'Status';
    resOutHead.textContent = ssh ? 'Output or error' : 'Body or error';
    res.next = data.nextCursor || '';
    replace(resBody, data.items.length ? data.items.map((r) => h('tr', { class: r.state !== 'ok' ? 'is-error' : null, dataset: { index: String(r.index) } },
      h('td', { class: 'num muted' }, r.index),
      h('td', {}, hostButton(r.host)),
      h('td', {}, badge(r.state)),
      h('td', { class: 'num code' }, codeOf(r)),
      h('td', { class: 'num' }, r.latencyMs ? fmtDur(r.latencyMs) : ''),
      h('td', {}, truncate(r.value, 40)),
      h('td', { class: 'small' }, truncate(r.error || r.body || r.stderr, 90)))) :
      h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No matching results.')));
    const prev = h('button', { type: 'button', disabled: res.page === 0 }, '← Previous');
    const next = h('button', { type: 'button', disabled: !res.next }, 'Next →');
    prev.addEventListener('click', () => { res.page--; loadResults(); });
    next.addEventListener('click', () => { res.cursors[res.page + 1] = res.next; res.page++; loadResults(); });
    replace(resPager, prev, h('span', { class: 'muted' }, `page ${res.page + 1} · ${RESULT_PAGE} a page`), next);
  }

  root.append(
    h('section', { class: 'panel' },
      h('div', { class: 'title-row' }, h('h2', {}, 'Aggregation'), h('div', { class: 'actions' }, aggInfo, aggRefresh)),
      tabs,
      h('table', { class: 'grid agg' }, aggHead, aggBody),
      groupPanel),
    h('section', { class: 'panel' }, h('h2', {}, 'Host'), hostForm, hostRecord),
    h('section', { class: 'panel' },
      h('div', { class: 'title-row' }, h('h2', {}, 'Results'), h('div', { class: 'actions' }, exportNDJSON, exportCSV)),
      resForm,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {},
        h('th', { class: 'num' }, '#'), h('th', {}, 'Host'), h('th', {}, 'State'), resCodeHead,
        h('th', { class: 'num' }, 'Latency'), h('th', {}, 'Value'), resOutHead)), resBody),
      resPager),
  );
  replace(aggHead, headRow(by));

  // ---- lifecycle -------------------------------------------------------------------
  function finished() {
    loadAgg();
    loadResults();
    loadSeries();
  }

  (async () => {
    try {
      render(await api.get(base, ctx.signal));
    } catch (err) {
      if (api.isAbort(err)) return;
      replace(root, h('h1', {}, 'Job ', id), h('p', { class: 'error', id: 'job-error' }, err.message),
        h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')));
      return;
    }
    if (terminal(st.state)) {
      // Nothing will change: no stream to follow.
      finished();
      return;
    }
    loadAgg();
    loadResults();
    openStream();
    // While the job runs, the cheap aggregations follow it; the output and
    // stderr ones read every output and are refreshed on demand and at the end.
    let first = true;
    ctx.every(3000, async () => {
      if (first) { first = false; return; }
      if (st && !terminal(st.state) && by !== 'body' && by !== 'stderr') await loadAgg();
    });
  })();
}

// codeOf is a result's HTTP status or SSH exit code (0 shown), or "".
function codeOf(r) {
  if (r.statusCode) return String(r.statusCode);
  if (r.exitCode !== null && r.exitCode !== undefined) return String(r.exitCode);
  return '';
}

function metaItem(k, v) {
  return h('span', { class: 'meta-item' }, h('span', { class: 'muted' }, k + ' '), v);
}

// recordView shows one result record in full.
function recordView(r, ssh) {
  const code = r.statusCode ? String(r.statusCode) : r.exitCode !== null && r.exitCode !== undefined ? 'exit ' + r.exitCode : '–';
  const rows = [
    ['index', 'index', r.index],
    ['target', 'target', r.target],
    ['worker', 'worker', r.worker],
    ['status', ssh ? 'exit code' : 'status', code],
    ['latency', 'latency', r.latencyMs !== undefined ? `${r.latencyMs.toFixed ? r.latencyMs.toFixed(1) : r.latencyMs} ms` : '–'],
    ['attempts', 'attempts', r.attempts],
    ['value', 'value', r.value],
    ['error-class', 'error class', r.errorClass || '–'],
    ['error', 'error', r.error || '–'],
    ['body-bytes', ssh ? 'stdout bytes' : 'body bytes', fmtInt(r.bodyBytes) + (r.truncated ? ' (truncated)' : '')],
    ['started', 'started', timeEl(r.startedAt)],
    ['finished', 'finished', timeEl(r.finishedAt)],
  ];
  return h('article', { class: 'record', dataset: { host: r.host, index: String(r.index) } },
    h('h3', {}, h('code', {}, r.host), ' ', badge(r.state)),
    h('dl', {}, rows.map(([k, label, v]) => [h('dt', {}, label), h('dd', { class: 'rec-' + k }, v ?? '')])),
    h('div', { class: 'muted small' }, ssh ? 'stdout' : 'body'),
    h('pre', { class: 'rec-body' }, r.body || ''),
    r.stderr ? [h('div', { class: 'muted small' }, 'stderr'), h('pre', { class: 'rec-stderr' }, r.stderr)] : null);
}
