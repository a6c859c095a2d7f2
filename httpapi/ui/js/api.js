// A thin client of salvo's REST API (/api/v1). Errors are ApiError with the
// server's {"error", "field"}.

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || '';
  }
}

// X-Salvo-CSRF marks the dashboard's own calls: a page of another site
// cannot send it without the API's consent (which it never gives), so the
// server accepts a session cookie on a write only with it.
async function call(method, path, body, signal) {
  const init = { method, signal, headers: { Accept: 'application/json', 'X-Salvo-CSRF': '1' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (resp.status === 401 && path !== '/api/v1/login') {
    // No session, or it expired: the login page takes a token.
    window.dispatchEvent(new CustomEvent('salvo:login'));
  }
  if (!resp.ok) {
    const msg = (data && data.error) || `${method} ${path}: HTTP ${resp.status}`;
    throw new ApiError(resp.status, msg, data && data.field);
  }
  return data;
}

// query builds "?a=1&b=2" from an object, skipping empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export const get = (path, signal) => call('GET', path, undefined, signal);
export const post = (path, body, signal) => call('POST', path, body, signal);

// whoami is the caller ({name, role, auth}), asked once per page load (and
// again after a log-in with refresh). When it cannot be read the role is
// unknown: buttons stay, and the server's 403 says what is refused.
let me = null;
export function whoami(refresh) {
  if (!me || refresh) {
    me = get('/api/v1/whoami').catch(() => ({ name: '', role: '', auth: true, unknown: true }));
  }
  return me;
}

// mayOperate says whether the caller may submit, cancel and rerun jobs
// (the operator role and above; everyone without authentication).
export function mayOperate(who) {
  return !who || !who.auth || who.unknown || who.role === 'operator' || who.role === 'admin';
}

export const jobPath = (id) => '/api/v1/jobs/' + encodeURIComponent(id);
export const memberPath = (name) => '/api/v1/cluster/members/' + encodeURIComponent(name);

// isAbort reports whether an error comes from an aborted fetch.
export function isAbort(err) {
  return err && err.name === 'AbortError';
}
