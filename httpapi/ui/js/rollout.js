// Rollout panel of the job page (docs/rollouts.md): the batch in progress,
// each batch's counts, the failure budget left, and the Pause and Resume
// buttons (POST /api/v1/jobs/ID/pause and /resume), which any running job
// has. job.js mounts it and hands it every status.
import * as api from './api.js';
import { h, replace, fmtInt, fmtTime, terminal } from './dom.js';

const STATES = {
  running: 'running a batch',
  waiting: 'waiting between batches',
  approval: 'paused after the batch: resume to start the next one',
  paused: 'paused',
  stopped: 'stopped: the failure budget was exceeded',
  done: 'every batch ran',
  ended: 'ended',
};

// rolloutPanel returns {el, render(status)}: el goes on the job page;
// onStatus gets the status a pause or resume answers.
export function rolloutPanel(base, ctx, onStatus) {
  const summary = h('p', { id: 'rollout-summary' });
  const budget = h('p', { id: 'rollout-budget', class: 'muted small' });
  const batches = h('tbody', { id: 'rollout-batches' });
  const table = h('table', { class: 'grid', id: 'rollout-table' }, h('thead', {}, h('tr', {},
    h('th', { class: 'num' }, 'Batch'), h('th', {}, 'Targets'), h('th', { class: 'num' }, 'ok'),
    h('th', { class: 'num' }, 'failed'), h('th', { class: 'num' }, 'error'), h('th', { class: 'num' }, 'timeout'),
    h('th', { class: 'num' }, 'skipped'), h('th', {}, ''))), batches);
  const pauseBtn = h('button', { type: 'button', id: 'pause-btn', hidden: true }, 'Pause');
  const resumeBtn = h('button', { type: 'button', id: 'resume-btn', hidden: true }, 'Resume');
  const msg = h('span', { class: 'error', id: 'rollout-msg', role: 'alert' });
  const title = h('h2', {}, 'Rollout');
  const el = h('section', { class: 'panel', id: 'rollout', hidden: true },
    h('div', { class: 'title-row' }, title, h('div', { class: 'actions' }, pauseBtn, resumeBtn)),
    msg, summary, budget, table);

  async function call(what, btn) {
    btn.disabled = true;
    msg.textContent = '';
    try {
      onStatus(await api.post(base + '/' + what, undefined, ctx.signal));
    } catch (err) {
      if (!api.isAbort(err)) msg.textContent = err.message;
    } finally {
      btn.disabled = false;
    }
  }
  pauseBtn.addEventListener('click', () => call('pause', pauseBtn));
  resumeBtn.addEventListener('click', () => call('resume', resumeBtn));

  function render(s) {
    const ro = s.rollout;
    const live = !terminal(s.state) && s.state !== 'cancelling';
    el.hidden = !ro && !live;
    pauseBtn.hidden = !live || s.state === 'paused' || s.state === 'finishedNotGathered';
    resumeBtn.hidden = s.state !== 'paused';
    el.dataset.state = ro ? ro.state : '';
    title.textContent = ro ? 'Rollout' : 'Pause';
    table.hidden = !ro;
    if (!ro) {
      replace(summary, s.state === 'paused' ? 'Paused: no new request starts until Resume.' : 'Pause stops the job between leases; Resume lets it go on.');
      budget.textContent = '';
      return;
    }
    let text = `Batch ${fmtInt(ro.batch)} of ${fmtInt(ro.batches)}: ${STATES[ro.state] || ro.state}`;
    if (ro.state === 'waiting' && ro.nextAt) text += ` (the next starts at ${fmtTime(ro.nextAt)})`;
    replace(summary, text);
    const b = ro.budget || {};
    const limits = [];
    if (b.maxFailures !== undefined) limits.push(`at most ${fmtInt(b.maxFailures)}`);
    if (b.maxFailurePercent !== undefined) limits.push(`at most ${b.maxFailurePercent}% of those that ran`);
    budget.textContent = `${fmtInt(b.failures)} failures in ${fmtInt(b.ran)} targets that ran` +
      (limits.length ? ` · budget: ${limits.join(', ')}` : ' · no failure budget') +
      (b.left !== undefined ? ` · ${fmtInt(b.left)} more allowed` : '') + (b.exceeded ? ' · exceeded' : '');
    const rows = (ro.perBatch || []).map((pb) => {
      const c = pb.counts || {};
      return h('tr', { dataset: { batch: String(pb.index) }, class: pb.failures ? 'is-error' : null },
        h('td', { class: 'num' }, fmtInt(pb.index)),
        h('td', {}, `${fmtInt(pb.from)}–${fmtInt(pb.to - 1)}`),
        ['ok', 'failed', 'error', 'timeout', 'skipped'].map((k) => h('td', { class: 'num' }, fmtInt(c[k]))),
        h('td', { class: 'muted small' }, pb.complete ? 'done' : 'in progress'));
    });
    if (ro.omitted) rows.unshift(h('tr', {}, h('td', { colspan: 8, class: 'muted small' }, `${fmtInt(ro.omitted)} earlier batches not shown`)));
    replace(batches, rows);
  }

  return { el, render };
}
