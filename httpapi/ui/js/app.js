// The dashboard's router: #/cluster, #/jobs, #/job/ID, #/submit. Each page
// module exports mount(root, ctx, params); ctx owns the page's timers,
// fetches and event streams and stops them when the page is left.
import { isAbort, post, whoami as caller } from './api.js';
import { h, replace, setUtcTimes, utcTimes } from './dom.js';
import * as cluster from './cluster.js';
import * as jobs from './jobs.js';
import * as job from './job.js';
import * as submit from './submit.js';

// PageContext is what a page gets to run background work with.
class PageContext {
  constructor() {
    this.ctrl = new AbortController();
    this.signal = this.ctrl.signal;
    this.timers = new Set();
    this.cleanups = [];
    this.stopped = false;
  }

  // every runs fn now and then ms after each run ends (runs never overlap)
  // until the page is left. fn may return a promise.
  every(ms, fn) {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await fn();
        status('');
      } catch (err) {
        if (!isAbort(err)) status(err.message, true);
      }
      if (this.stopped) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        tick();
      }, ms);
      this.timers.add(t);
    };
    tick();
  }

  // onStop registers a cleanup, such as closing an EventSource.
  onStop(fn) { this.cleanups.push(fn); }

  stop() {
    this.stopped = true;
    this.ctrl.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const fn of this.cleanups) fn();
  }
}

// status shows a message in the header (errors of background refreshes).
export function status(msg, isError) {
  const el = document.getElementById('status-line');
  if (!el) return;
  el.textContent = msg || '';
  el.classList.toggle('error', !!isError);
}

// login is the page that takes a token when the API asks for one: the
// server answers with an HttpOnly session cookie.
const login = {
  mount(root) {
    const input = h('input', { type: 'password', name: 'token', id: 'login-token', autocomplete: 'off', required: true });
    const msg = h('p', { class: 'error', id: 'login-error' });
    const form = h('form', { id: 'login-form' },
      h('label', { for: 'login-token' }, 'API token'), input,
      h('button', { type: 'submit', id: 'login-btn' }, 'Log in'), msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.textContent = '';
      try {
        await post('/api/v1/login', { token: input.value });
        input.value = '';
        await whoami();
        location.hash = '#/jobs';
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    replace(root, h('h1', {}, 'Log in'),
      h('p', { class: 'muted' }, 'This salvo server needs a token (salvo token create, or DATA_DIR/admin.token).'), form);
  },
};

// whoami shows who is logged in, and a log-out link with a session.
async function whoami() {
  const el = document.getElementById('who');
  if (!el) return;
  try {
    const me = await caller(true);
    if (!me.auth || me.unknown) {
      replace(el);
      return;
    }
    const out = h('a', { href: '#/login', id: 'logout' }, 'log out');
    out.addEventListener('click', async (ev) => {
      ev.preventDefault();
      await post('/api/v1/logout').catch(() => {});
      caller(true);
      replace(el);
      location.hash = '#/login';
    });
    replace(el, `${me.name} (${me.role}) `, out);
  } catch {
    replace(el);
  }
}

window.addEventListener('salvo:login', () => {
  if (location.hash !== '#/login') location.hash = '#/login';
});

const routes = [
  { re: /^#\/login$/, nav: 'login', page: login },
  { re: /^#\/cluster$/, nav: 'cluster', page: cluster },
  { re: /^#\/jobs(?:\?(.*))?$/, nav: 'jobs', page: jobs },
  { re: /^#\/job\/([^/?]+)$/, nav: 'jobs', page: job },
  { re: /^#\/submit$/, nav: 'submit', page: submit },
];

let current = null;

function route() {
  const hash = location.hash || '#/jobs';
  let match = null;
  let r = null;
  for (const cand of routes) {
    match = cand.re.exec(hash);
    if (match) {
      r = cand;
      break;
    }
  }
  if (current) current.stop();
  current = new PageContext();
  status('');
  const main = document.getElementById('main');
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', r && a.dataset.nav === r.nav);
  }
  if (!r) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', hash, '. ', h('a', { href: '#/jobs' }, 'Jobs')));
    return;
  }
  replace(main);
  // A page's marks (data-state, data-events…) are its own.
  for (const k of Object.keys(main.dataset)) delete main.dataset[k];
  main.dataset.page = r.nav;
  main.dataset.route = hash;
  const params = match.slice(1).map((p) => (p === undefined ? '' : decodeURIComponent(p)));
  r.page.mount(main, current, ...params);
}

// The header's UTC toggle: every time shown, local with its offset or UTC.
const utc = document.getElementById('utc-toggle');
if (utc) {
  utc.checked = utcTimes();
  utc.addEventListener('change', () => setUtcTimes(utc.checked));
}

window.addEventListener('hashchange', route);
if (!location.hash) history.replaceState(null, '', '#/jobs');
route();
whoami();
