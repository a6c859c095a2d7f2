// Cluster page: every member with its state, roles, tags, capacity bar and
// running jobs, and a drain / enable toggle per worker.
import * as api from './api.js';
import { h, replace, badge, fmtInt, pct } from './dom.js';

export function mount(root, ctx) {
  const summary = h('div', { class: 'cards', id: 'cluster-summary' });
  const tbody = h('tbody', { id: 'members' });
  const note = h('p', { class: 'error', id: 'cluster-error', role: 'alert' });
  root.append(
    h('h1', {}, 'Cluster'),
    summary,
    note,
    h('table', { class: 'grid members' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'Member'), h('th', {}, 'State'), h('th', {}, 'Roles'), h('th', {}, 'Tags'),
        h('th', { class: 'wide' }, 'Capacity · reserved · in flight'), h('th', { class: 'num' }, 'Running jobs'),
        h('th', {}, 'Resources'),
        h('th', {}, 'Addresses'), h('th', {}, ''))),
      tbody),
    h('p', { class: 'muted' }, 'A drained worker takes no new job (jobs wait while every worker is drained); ',
      'the jobs running on it finish. Enable lets it take jobs again.'),
  );

  let members = [];
  const load = async () => {
    const data = await api.get('/api/v1/cluster/members', ctx.signal);
    members = data.items || [];
    render();
  };

  async function toggle(m, btn) {
    btn.disabled = true;
    note.textContent = '';
    try {
      const data = await api.post(api.memberPath(m.name) + (m.enabled ? '/disable' : '/enable'), undefined, ctx.signal);
      members = data.items || members;
      render();
    } catch (err) {
      if (!api.isAbort(err)) note.textContent = `${m.name}: ${err.message}`;
      btn.disabled = false;
    }
  }

  function render() {
    let cap = 0, res = 0, fl = 0, run = 0, alive = 0;
    for (const m of members) {
      if (m.enabled && (m.state === 'alive' || !m.state)) cap += m.capacity || 0;
      res += m.reserved || 0;
      fl += m.inFlight || 0;
      run += m.runningJobs || 0;
      if (m.state === 'alive') alive++;
    }
    replace(summary,
      card('Members', `${fmtInt(alive)} alive of ${fmtInt(members.length)}`),
      card('Usable capacity', fmtInt(cap)),
      card('Reserved', `${fmtInt(res)} (${Math.round(pct(res, cap))}%)`),
      card('In flight', fmtInt(fl)),
      card('Running jobs', fmtInt(run)));

    // Rows are rebuilt only when a member changed, so a button being
    // clicked is not swapped under the pointer.
    const seen = new Set();
    let prev = null;
    for (const m of members) {
      seen.add(m.name);
      const sig = JSON.stringify(m);
      let tr = tbody.querySelector(`tr[data-member="${CSS.escape(m.name)}"]`);
      if (!tr || tr.dataset.sig !== sig) {
        const fresh = row(m, sig);
        if (tr) tr.replaceWith(fresh);
        tr = fresh;
      }
      if (prev ? prev.nextSibling !== tr : tbody.firstChild !== tr) {
        if (prev) prev.after(tr); else tbody.prepend(tr);
      }
      prev = tr;
    }
    for (const tr of [...tbody.children]) {
      if (!seen.has(tr.dataset.member)) tr.remove();
    }
    if (!members.length) replace(tbody, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No members.')));
  }

  function row(m, sig) {
    const isWorker = (m.roles || []).includes('worker') || m.capacity > 0;
    const btn = isWorker ? h('button', {
      type: 'button',
      class: m.enabled ? 'danger' : 'primary',
      'data-action': m.enabled ? 'drain' : 'enable',
    }, m.enabled ? 'Drain' : 'Enable') : null;
    if (btn) btn.addEventListener('click', () => toggle(m, btn));
    return h('tr', { dataset: { member: m.name, sig, enabled: String(!!m.enabled) } },
      h('td', {}, h('strong', {}, m.name)),
      h('td', {}, badge(m.state || 'alive'), ' ', m.enabled ? null : badge('disabled', 'member-disabled')),
      h('td', {}, (m.roles || []).map((r) => h('span', { class: 'chip' }, r))
        .concat(m.leader ? [h('span', { class: 'chip', title: 'Raft leader, term ' + m.raftTerm }, 'leader')] : [])),
      h('td', {}, (m.tags || []).length ? m.tags.map((t) => h('span', { class: 'chip tag' }, t)) : h('span', { class: 'muted' }, '–')),
      h('td', { class: 'wide' }, capacityBar(m)),
      h('td', { class: 'num' }, fmtInt(m.runningJobs)),
      h('td', { class: 'usage' }, usageText(m.usage)),
      h('td', { class: 'addrs' },
        m.apiAddr ? h('div', {}, 'api ', h('code', {}, m.apiAddr)) : null,
        m.gossipAddr ? h('div', {}, 'gossip ', h('code', {}, m.gossipAddr)) : null,
        m.remoteAddr ? h('div', {}, 'remote ', h('code', {}, m.remoteAddr)) : null),
      h('td', {}, btn));
  }

  ctx.every(2000, load);
}

// usageText shows a member's resource use: CPU, resident memory, open
// descriptors, load average.
function usageText(u) {
  if (!u) return h('span', { class: 'muted' }, '–');
  const mib = Math.round((u.rssBytes || 0) / (1 << 20));
  return h('span', { title: 'process CPU (100% = one core), resident memory, open descriptors, load average (1 min)' },
    `cpu ${Math.round(u.cpuPercent || 0)}% · rss ${fmtInt(mib)} MiB · fds ${fmtInt(u.openFds || 0)} · load ${(u.load1 || 0).toFixed(2)}`);
}

function card(label, value) {
  return h('div', { class: 'card' }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value));
}

// capacityBar shows reserved and in-flight requests against capacity.
function capacityBar(m) {
  const cap = m.capacity || 0;
  if (!cap) return h('span', { class: 'muted' }, 'no worker capacity');
  const bar = h('div', { class: 'capbar', title: `capacity ${cap}, reserved ${m.reserved}, in flight ${m.inFlight}` });
  const reserved = h('div', { class: 'cap-reserved' });
  reserved.style.width = pct(m.reserved, cap) + '%';
  const inflight = h('div', { class: 'cap-inflight' });
  inflight.style.width = pct(m.inFlight, cap) + '%';
  bar.append(reserved, inflight);
  return h('div', {}, bar, h('div', { class: 'capnums' },
    h('span', { class: 'k-inflight' }, fmtInt(m.inFlight), ' in flight'), ' · ',
    h('span', { class: 'k-reserved' }, fmtInt(m.reserved), ' reserved'), ' · ',
    fmtInt(cap), ' capacity'));
}
