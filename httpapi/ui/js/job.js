// Job page: live progress from the job's event stream, the rate over time,
// per-worker concurrency, the aggregation table with each group's hosts, a
// host search showing full result records, a paged results browser, cancel.
import * as api from './api.js';
import { rateChart } from './chart.js';
import { rolloutPanel } from './rollout.js';
import {
  h, replace, badge, fmtInt, fmtRate, fmtDur, fmtPct, fmtTime, pct, truncate, stackedBar, terminal, RESULT_STATES,
} from './dom.js';

const AGG_KEYS = [
  ['value', 'Value'],
  ['status', 'Status'],
  ['errorClass', 'Error class'],
  ['body', 'Identical body'],
];
const GROUP_PAGE = 25;
const RESULT_PAGE = 25;
const FOLDED_SHOWN = 4000; // characters of a folded host list shown before "show all"

export function mount(root, ctx, id) {
  const base = api.jobPath(id);
  let st = null;
  let events = 0;

  // ---- header and progress -------------------------------------------------
  const title = h('h1', { id: 'job-title' }, id);
  const stateEl = h('span', { id: 'job-state' });
  const reason = h('p', { id: 'job-reason', class: 'reason' });
  const cancelBtn = h('button', { type: 'button', id: 'cancel-btn', class: 'danger', disabled: true }, 'Cancel job');
  const cancelMsg = h('span', { class: 'error', id: 'cancel-msg', role: 'alert' });
  const meta = h('div', { class: 'meta', id: 'job-meta' });
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
      h('div', { class: 'actions' }, live, stateEl, cancelBtn)),
    cancelMsg, reason, meta,
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
    title.textContent = s.name || 'job';
    replace(stateEl, badge(s.state));
    root.dataset.state = s.state;
    reason.textContent = s.reason || '';
    cancelBtn.disabled = terminal(s.state);
    replace(meta,
      metaItem('protocol', s.protocol || 'http'),
      metaItem('created', fmtTime(s.createdAt)),
      metaItem('started', fmtTime(s.startedAt)),
      metaItem('finished', fmtTime(s.finishedAt)),
      metaItem('max concurrency', fmtInt(s.maxConcurrency)),
      metaItem('sent', fmtInt(s.sent)));
    replace(barBox, stackedBar(s));
    pctEl.textContent = fmtPct(s.done, s.total);
    progText.textContent = `${fmtInt(s.done)} of ${fmtInt(s.total)} targets`;
    counts.done.textContent = fmtInt(s.done);
    for (const k of RESULT_STATES) counts[k].textContent = fmtInt(s.counts?.[k]);
    const last = points[points.length - 1];
    rateNow.textContent = terminal(s.state) ? '–' : last ? fmtRate(last.rate) : '–';
    rateAvg.textContent = fmtRate(s.rate);
    if (s.startedAt) {
      const end = s.finishedAt ? Date.parse(s.finishedAt) : Date.now();
      elapsed.textContent = fmtDur(end - Date.parse(s.startedAt));
    }
    chart.draw(points, s.rate);
    chartNote.textContent = points.length > 1 ? '' : terminal(s.state)
      ? 'The rate is drawn while this page watches a running job; the line is the average.'
      : 'Waiting for progress…';
    renderWorkers(s);
    rollout.render(s);
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
      if (!api.isAbort(err)) cancelMsg.textContent = err.message;
    }
  });

  // ---- aggregation -----------------------------------------------------------
  let by = 'value';
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, AGG_KEYS.map(([k, label]) =>
    h('button', { type: 'button', role: 'tab', 'data-by': k, class: k === by ? 'active' : null }, label)));
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

  async function loadAgg() {
    const key = by;
    const limit = key === 'body' ? 20 : 50;
    let data;
    try {
      data = await api.get(base + '/aggregate' + api.query({ by: key, limit }), ctx.signal);
    } catch (err) {
      if (api.isAbort(err)) return;
      replace(aggBody, h('tr', {}, h('td', { colspan: 5, class: 'error' }, err.message)));
      return;
    }
    if (key !== by) return; // the tab changed meanwhile
    const groups = data.groups || [];
    // Shares are of every stored result, also when only the largest groups came.
    const total = Math.max(groups.reduce((n, g) => n + g.count, 0), st ? st.done : 0);
    aggInfo.textContent = `${fmtInt(groups.length)} group${groups.length === 1 ? '' : 's'}` +
      (groups.length >= limit ? ` (the largest ${limit})` : '') + ` · ${fmtInt(groups.reduce((n, g) => n + g.count, 0))} results`;
    if (!groups.length) {
      replace(aggBody, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No results yet.')));
      return;
    }
    replace(aggBody, groups.map((g, i) => {
      const share = h('div', { class: 'bar thin' }, h('div', { class: g.isError ? 'seg seg-error' : 'seg seg-ok' }));
      share.firstChild.style.width = pct(g.count, total) + '%';
      const valueCell = key === 'body'
        ? h('pre', { class: 'bodyval' }, truncate(g.value, 400))
        : h('span', { class: 'val' }, g.value === '' ? '(empty)' : g.value);
      const tr = h('tr', { class: 'clickable' + (g.isError ? ' is-error' : ''), dataset: { group: String(i), value: key === 'body' ? null : g.value }, tabindex: 0, title: 'Show the hosts of this group' },
        h('td', {}, valueCell),
        h('td', { class: 'num' }, fmtInt(g.count)),
        h('td', { class: 'num' }, fmtPct(g.count, total)),
        h('td', { class: 'share' }, share),
        h('td', { class: 'folded' }, truncate(g.folded, 160)));
      const open = () => openGroup(key, g);
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
      return tr;
    }));
  }

  // ---- a group's hosts ---------------------------------------------------------
  let grp = null; // {by, g, cursors, page, next}

  // The aggregate answer folds at most this many hosts of a group
  // (store.MaxGroupHosts); hostsCursor is set when the group has more.
  const HOSTS_FOLDED_MAX = 1000;

  function openGroup(key, g) {
    grp = { by: key, g, cursors: [''], page: 0, next: '' };
    groupPanel.hidden = false;
    loadGroup();
    groupPanel.scrollIntoView({ block: 'nearest' });
  }

  async function loadGroup() {
    const { by: key, g } = grp;
    const folded = g.folded || '';
    const foldedEl = h('pre', { class: 'folded-all', id: 'group-folded' }, truncate(folded, FOLDED_SHOWN));
    const showAll = folded.length > FOLDED_SHOWN
      ? h('button', { type: 'button', class: 'link', onclick: () => { foldedEl.textContent = folded; showAll.remove(); } }, 'show all')
      : null;
    const rowsBody = h('tbody', { id: 'group-hosts' });
    const pager = h('div', { class: 'pager' });
    const label = key === 'body' ? truncate(g.value, 80) : g.value;
    replace(groupPanel,
      h('div', { class: 'title-row' },
        h('h3', {}, `${AGG_KEYS.find((k) => k[0] === key)[1]} `, h('code', {}, label || '(empty)'), ` · ${fmtInt(g.count)} hosts`),
        h('button', { type: 'button', onclick: () => { groupPanel.hidden = true; } }, 'Close')),
      h('div', { class: 'muted small' }, g.hostsCursor
        ? `The first ${fmtInt(HOSTS_FOLDED_MAX)} of ${fmtInt(g.hostsTotal ?? g.count)} hosts, folded (the table pages them all):`
        : 'Every host, folded:'), foldedEl, showAll,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {},
        h('th', { class: 'num' }, '#'), h('th', {}, 'Host'), h('th', {}, 'State'), h('th', {}, 'Value'))), rowsBody),
      pager);

    let items = [];
    let note = '';
    try {
      ({ items, note } = await groupItems(key, g));
    } catch (err) {
      if (!api.isAbort(err)) replace(rowsBody, h('tr', {}, h('td', { colspan: 4, class: 'error' }, err.message)));
      return;
    }
    replace(rowsBody, items.map((r) => h('tr', {},
      h('td', { class: 'num muted' }, r.index ?? ''),
      h('td', {}, hostButton(r.host)),
      h('td', {}, r.state ? badge(r.state) : ''),
      h('td', {}, r.value ?? ''))));
    const prev = h('button', { type: 'button', disabled: grp.page === 0 }, '← Previous');
    const next = h('button', { type: 'button', disabled: !grp.next }, 'Next →');
    prev.addEventListener('click', () => { grp.page--; loadGroup(); });
    next.addEventListener('click', () => { grp.cursors[grp.page + 1] = grp.next; grp.page++; loadGroup(); });
    replace(pager, prev, h('span', { class: 'muted' }, note || `page ${grp.page + 1}`), next);
  }

  // groupItems reads a page of a group's results: by value or error class
  // from /group, a status that is a result state from /results, else the
  // group's first hosts (every host is in its folded list).
  async function groupItems(key, g) {
    let items = [];
    let note = '';
    if (key === 'value' || key === 'errorClass') {
      // value is sent even when empty: "" is a group of its own.
      const q = api.query({ by: key, limit: GROUP_PAGE, cursor: grp.cursors[grp.page] }) + '&value=' + encodeURIComponent(g.value);
      const data = await api.get(base + '/group' + q, ctx.signal);
      items = data.items;
      grp.next = data.nextCursor || '';
    } else if (key === 'status' && RESULT_STATES.includes(g.value)) {
      const data = await api.get(base + '/results' + api.query({ state: g.value, limit: GROUP_PAGE, cursor: grp.cursors[grp.page] }), ctx.signal);
      items = data.items;
      grp.next = data.nextCursor || '';
    } else {
      items = (g.hosts || []).map((host) => ({ host }));
      grp.next = '';
      if (g.count > items.length) note = `The first ${items.length} of ${fmtInt(g.count)}; the folded list above holds every host.`;
    }
    return { items, note };
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
    replace(hostRecord, data.items.map(recordView),
      data.nextCursor ? h('p', { class: 'muted' }, 'More results of this host exist (it is listed several times).') : null);
    hostRecord.scrollIntoView({ block: 'nearest' });
  }

  // ---- results browser -----------------------------------------------------------
  const resState = h('select', { id: 'res-state', 'aria-label': 'Result state' },
    h('option', { value: '' }, 'every state'), RESULT_STATES.map((s) => h('option', { value: s }, s)));
  const resQ = h('input', { type: 'search', id: 'res-q', placeholder: 'text in body, stderr, error or value', 'aria-label': 'Text' });
  const resForm = h('form', { id: 'res-form', class: 'inline-form' }, resState, resQ, h('button', { type: 'submit' }, 'Filter'));
  const resBody = h('tbody', { id: 'results' });
  const resPager = h('div', { class: 'pager' });
  let res = { cursors: [''], page: 0, next: '' };
  resForm.addEventListener('submit', (e) => {
    e.preventDefault();
    res = { cursors: [''], page: 0, next: '' };
    loadResults();
  });

  async function loadResults() {
    let data;
    try {
      data = await api.get(base + '/results' + api.query({
        state: resState.value, q: resQ.value, limit: RESULT_PAGE, cursor: res.cursors[res.page],
      }), ctx.signal);
    } catch (err) {
      if (!api.isAbort(err)) replace(resBody, h('tr', {}, h('td', { colspan: 7, class: 'error' }, err.message)));
      return;
    }
    res.next = data.nextCursor || '';
    replace(resBody, data.items.length ? data.items.map((r) => h('tr', { class: r.state !== 'ok' ? 'is-error' : null },
      h('td', { class: 'num muted' }, r.index),
      h('td', {}, hostButton(r.host)),
      h('td', {}, badge(r.state)),
      h('td', { class: 'num' }, r.statusCode || r.exitCode || ''),
      h('td', { class: 'num' }, r.latencyMs ? fmtDur(r.latencyMs) : ''),
      h('td', {}, truncate(r.value, 40)),
      h('td', { class: 'small' }, truncate(r.error || r.body, 90)))) :
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
      h('table', { class: 'grid agg' }, h('thead', {}, h('tr', {},
        h('th', {}, 'Value'), h('th', { class: 'num' }, 'Count'), h('th', { class: 'num' }, '%'),
        h('th', {}, ''), h('th', {}, 'Hosts'))), aggBody),
      groupPanel),
    h('section', { class: 'panel' }, h('h2', {}, 'Host'), hostForm, hostRecord),
    h('section', { class: 'panel' }, h('h2', {}, 'Results'), resForm,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {},
        h('th', { class: 'num' }, '#'), h('th', {}, 'Host'), h('th', {}, 'State'), h('th', { class: 'num' }, 'Status'),
        h('th', { class: 'num' }, 'Latency'), h('th', {}, 'Value'), h('th', {}, 'Body or error'))), resBody),
      resPager),
  );

  // ---- lifecycle -------------------------------------------------------------------
  function finished() {
    loadAgg();
    loadResults();
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
    loadAgg();
    loadResults();
    openStream();
    // While the job runs, the cheap aggregations follow it; the body one
    // reads every body and is refreshed on demand and at the end.
    let first = true;
    ctx.every(3000, async () => {
      if (first) { first = false; return; }
      if (st && !terminal(st.state) && by !== 'body') await loadAgg();
    });
  })();
}

function metaItem(k, v) {
  return h('span', { class: 'meta-item' }, h('span', { class: 'muted' }, k + ' '), v);
}

// recordView shows one result record in full.
function recordView(r) {
  const rows = [
    ['index', r.index],
    ['target', r.target],
    ['worker', r.worker],
    ['status', r.statusCode || (r.exitCode !== null && r.exitCode !== undefined ? 'exit ' + r.exitCode : '–')],
    ['latency', r.latencyMs !== undefined ? `${r.latencyMs.toFixed ? r.latencyMs.toFixed(1) : r.latencyMs} ms` : '–'],
    ['attempts', r.attempts],
    ['value', r.value],
    ['error class', r.errorClass || '–'],
    ['error', r.error || '–'],
    ['body bytes', fmtInt(r.bodyBytes) + (r.truncated ? ' (truncated)' : '')],
    ['started', fmtTime(r.startedAt)],
    ['finished', fmtTime(r.finishedAt)],
  ];
  return h('article', { class: 'record', dataset: { host: r.host, index: String(r.index) } },
    h('h3', {}, h('code', {}, r.host), ' ', badge(r.state)),
    h('dl', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'rec-' + k.replace(/ /g, '-') }, v ?? '')])),
    h('div', { class: 'muted small' }, 'body'),
    h('pre', { class: 'rec-body' }, r.body || ''),
    r.stderr ? [h('div', { class: 'muted small' }, 'stderr'), h('pre', { class: 'rec-stderr' }, r.stderr)] : null);
}
