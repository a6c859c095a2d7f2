// Jobs page: the queue (running and waiting jobs) and every job, newest
// first, filtered by state and paged on the server; each with its protocol
// and what it ran.
import * as api from './api.js';
import {
  h, replace, badge, fmtInt, fmtRate, fmtAge, fmtDur, stackedBar, timeEl, progressText, ranText, protocolOf, JOB_STATES,
} from './dom.js';

const COLS = 9;

const PAGE = 25;

export function mount(root, ctx, queryString) {
  const params = new URLSearchParams(queryString || '');
  let state = params.get('state') || '';
  // cursors[i] is the cursor of page i; page 0 has none.
  let cursors = [''];
  let pageNo = 0;
  let next = '';

  const queueBody = h('tbody', { id: 'queue' });
  const listBody = h('tbody', { id: 'jobs' });
  const filter = h('select', { id: 'state-filter', 'aria-label': 'Filter by state' },
    h('option', { value: '' }, 'every state'),
    JOB_STATES.map((s) => h('option', { value: s }, s)));
  filter.value = state;
  const prevBtn = h('button', { type: 'button', id: 'jobs-prev' }, '← Newer');
  const nextBtn = h('button', { type: 'button', id: 'jobs-next' }, 'Older →');
  const pageInfo = h('span', { class: 'muted' });

  root.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Jobs'), h('a', { class: 'button primary', href: '#/submit' }, 'New job')),
    h('h2', {}, 'Queue'),
    h('table', { class: 'grid jobs' }, head(true), queueBody),
    h('div', { class: 'title-row' }, h('h2', {}, 'Jobs'),
      h('label', { class: 'inline' }, 'State ', filter)),
    h('table', { class: 'grid jobs' }, head(false), listBody),
    h('div', { class: 'pager' }, prevBtn, pageInfo, nextBtn),
  );

  filter.addEventListener('change', () => {
    // Keep the filter in the address so that a reload or a shared link shows it.
    history.replaceState(null, '', filter.value ? '#/jobs?state=' + encodeURIComponent(filter.value) : '#/jobs');
    state = filter.value;
    cursors = [''];
    pageNo = 0;
    loadList();
  });
  prevBtn.addEventListener('click', () => {
    if (pageNo > 0) {
      pageNo--;
      loadList();
    }
  });
  nextBtn.addEventListener('click', () => {
    if (next) {
      cursors[pageNo + 1] = next;
      pageNo++;
      loadList();
    }
  });

  async function loadQueue() {
    const [running, paused, finishing, waiting] = await Promise.all(['processing', 'paused', 'finishedNotGathered', 'waiting']
      .map((s) => api.get('/api/v1/jobs' + api.query({ state: s, limit: 100 }), ctx.signal)));
    // Waiting jobs run oldest first (FIFO): show them in that order.
    const items = [...running.items, ...paused.items, ...finishing.items, ...waiting.items.slice().reverse()];
    replace(queueBody, items.length ? items.map((j, i) => row(j, true, i)) :
      h('tr', {}, h('td', { colspan: COLS, class: 'muted' }, 'Nothing running or waiting.')));
  }

  async function loadList() {
    const data = await api.get('/api/v1/jobs' + api.query({ state, limit: PAGE, cursor: cursors[pageNo] }), ctx.signal);
    next = data.nextCursor || '';
    replace(listBody, data.items.length ? data.items.map((j) => row(j, false)) :
      h('tr', {}, h('td', { colspan: COLS, class: 'muted' }, state ? `No ${state} jobs.` : 'No jobs yet.')));
    prevBtn.disabled = pageNo === 0;
    nextBtn.disabled = !next;
    pageInfo.textContent = `page ${pageNo + 1}`;
  }

  ctx.every(2000, () => Promise.all([loadQueue(), loadList()]));
}

function head(queue) {
  return h('thead', {}, h('tr', {},
    h('th', {}, queue ? '#' : ''), h('th', {}, 'Job'), h('th', {}, 'Protocol'), h('th', {}, 'State'), h('th', { class: 'wide' }, 'Progress'),
    h('th', { class: 'num' }, 'Targets/s'), h('th', { class: 'num' }, 'Concurrency'), h('th', {}, 'Created'), h('th', {}, 'Took')));
}

function row(j, queue, pos) {
  const end = j.finishedAt ? Date.parse(j.finishedAt) : Date.now();
  const took = j.startedAt ? fmtDur(end - Date.parse(j.startedAt)) : '–';
  const errs = (j.counts?.failed || 0) + (j.counts?.error || 0) + (j.counts?.timeout || 0);
  const ran = ranText(j);
  const proto = protocolOf(j);
  return h('tr', { dataset: { job: j.id, state: j.state, protocol: proto.toLowerCase() } },
    h('td', { class: 'muted' }, queue ? String(pos + 1) : ''),
    h('td', {},
      h('a', { href: '#/job/' + encodeURIComponent(j.id) }, j.name || j.id),
      j.name ? h('div', { class: 'muted small' }, j.id) : null,
      ran ? h('div', { class: 'ran-line small', title: ran }, h('code', {}, ran)) : null,
      j.rerunOf ? h('div', { class: 'muted small' }, 'reruns ', h('a', { href: '#/job/' + encodeURIComponent(j.rerunOf) }, j.rerunOf)) : null,
      j.reason ? h('div', { class: 'reason small' }, j.reason) : null),
    h('td', { class: 'proto' }, h('span', { class: 'badge proto' }, proto)),
    h('td', {}, badge(j.state)),
    h('td', { class: 'wide' }, stackedBar(j),
      h('div', { class: 'small progress-line' }, progressText(j),
        errs ? h('span', { class: 'errcount' }, ` · ${fmtInt(errs)} not ok`) : null)),
    h('td', { class: 'num' }, fmtRate(j.rate)),
    h('td', { class: 'num' }, fmtInt(j.maxConcurrency)),
    h('td', { class: 'created' }, timeEl(j.createdAt), h('div', { class: 'muted small' }, fmtAge(j.createdAt))),
    h('td', {}, took));
}
