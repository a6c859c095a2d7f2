// Submit page: a form for an HTTP or SSH job. The server validates the
// spec (and expands nodesets in the targets); a 400 names the field that is
// wrong, and the form shows the message next to it.
import * as api from './api.js';
import { h, replace } from './dom.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const HOST_KEY_POLICIES = [['', 'strict (default): known_hosts only'], ['strict', 'strict'], ['accept-new', 'accept-new: trust a host seen first'], ['off', 'off: no check']];

const idOf = (path) => 'f-' + path.replace(/[.[\]]+/g, '-');

export function mount(root, ctx) {
  const errors = new Map(); // field path → error element
  const inputs = new Map(); // field path → control

  // field wraps a control with its label, hint and error line. path is the
  // spec field the server names in a 400.
  function field(path, label, control, hint) {
    control.id = idOf(path);
    const err = h('div', { class: 'field-error', 'data-error-for': path, id: 'err-' + control.id, role: 'alert' });
    control.setAttribute('aria-describedby', err.id);
    errors.set(path, err);
    inputs.set(path, control);
    return h('div', { class: 'field', 'data-field': path },
      h('label', { for: control.id }, label), control, hint ? h('div', { class: 'hint' }, hint) : null, err);
  }
  const text = (attrs) => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });

  const name = text({ placeholder: 'nginx-version' });
  const targets = h('textarea', { rows: 8, spellcheck: 'false', placeholder: '10.0.0.1\nweb-[01-20].example.com:8080\nhttps://10.0.0.3:8443/health' });
  const protoHTTP = h('input', { type: 'radio', name: 'protocol', value: 'http', id: 'proto-http', checked: true });
  const protoSSH = h('input', { type: 'radio', name: 'protocol', value: 'ssh', id: 'proto-ssh' });
  const sshCommand = h('textarea', { rows: 3, spellcheck: 'false', placeholder: 'systemctl is-active nginx' });
  const sshUser = text({ placeholder: 'the worker\'s login' });
  const sshPort = text({ placeholder: '22', inputmode: 'numeric' });
  // A select of the server's credentials when the caller may list them
  // (admin), else a text field.
  let sshCredential = text({ placeholder: 'a credential kept by the server' });
  const sshKey = text({ placeholder: '/etc/salvo/keys/id_ed25519' });
  const sshAgent = h('input', { type: 'checkbox', id: 'ssh-agent' });
  const sshKnownHosts = text({ placeholder: '~/.ssh/known_hosts of the worker' });
  const sshPolicy = h('select', {}, HOST_KEY_POLICIES.map(([v, l]) => h('option', { value: v }, l)));
  const nodeGroup = h('select', {}, h('option', { value: '' }, '(loading…)'));
  const srcList = h('input', { type: 'radio', name: 'source', value: 'targets', id: 'src-targets', checked: true });
  const srcGroup = h('input', { type: 'radio', name: 'source', value: 'nodeGroup', id: 'src-nodegroup' });
  const method = h('select', {}, METHODS.map((m) => h('option', { value: m }, m)));
  const scheme = h('select', {}, h('option', { value: '' }, 'http (default)'), h('option', { value: 'http' }, 'http'), h('option', { value: 'https' }, 'https'));
  const port = text({ placeholder: '80', inputmode: 'numeric' });
  const path = text({ placeholder: '/health' });
  const headers = h('textarea', { rows: 3, spellcheck: 'false', placeholder: 'X-Request-Id: $INDEX\nAccept: application/json' });
  const body = h('textarea', { rows: 3, spellcheck: 'false' });
  const insecure = h('input', { type: 'checkbox' });
  const maxConc = text({ placeholder: '100', inputmode: 'numeric' });
  const rate = text({ placeholder: 'no cap', inputmode: 'decimal' });
  const connect = text({ placeholder: '3s' });
  const request = text({ placeholder: '15s' });
  const retries = text({ placeholder: '0', inputmode: 'numeric' });
  const backoff = text({ placeholder: '200ms' });
  const maxBody = text({ placeholder: '65536', inputmode: 'numeric' });
  const regex = text({ placeholder: 'version=(\\S+)' });
  const formError = h('div', { id: 'form-error', class: 'form-error', role: 'alert', hidden: true });
  const submitBtn = h('button', { type: 'submit', class: 'primary', id: 'submit-btn' }, 'Submit job');
  const preview = h('pre', { id: 'spec-preview', class: 'preview' });

  const targetsField = field('targets', 'Targets', targets,
    'One per line: host, host:port, [v6]:port or a full URL (SSH: [user@]host[:port]). Nodesets such as web-[01-20] are expanded by the server. Lines starting with # are skipped.');
  const groupField = field('nodeGroup', 'Node group', nodeGroup);
  groupField.hidden = true;

  const form = h('form', { id: 'job-form', class: 'job-form', novalidate: true },
    formError,
    h('fieldset', {}, h('legend', {}, 'Job'), field('name', 'Name', name, 'Optional; shown in the jobs list.')),
    h('fieldset', {}, h('legend', {}, 'Targets'),
      h('div', { class: 'radios' },
        h('label', {}, srcList, ' a list of targets'), h('label', {}, srcGroup, ' a node group')),
      targetsField, groupField),
    h('fieldset', {}, h('legend', {}, 'Protocol'),
      h('div', { class: 'radios' },
        h('label', {}, protoHTTP, ' HTTP request'), h('label', {}, protoSSH, ' SSH command'))),
    h('fieldset', { id: 'fs-http' }, h('legend', {}, 'Request'),
      h('div', { class: 'row' },
        field('http.method', 'Method', method),
        field('http.scheme', 'Scheme', scheme),
        field('http.port', 'Port', port)),
      field('http.path', 'Path', path, 'Variables: $HOST, $PORT, $INDEX, ${NAME}.'),
      field('http.headers', 'Headers', headers, 'One "Name: value" a line.'),
      field('http.body', 'Body', body),
      h('div', { class: 'field check' }, h('label', {}, insecure, ' skip TLS verification (insecureSkipVerify)'))),
    h('fieldset', { id: 'fs-ssh', hidden: true }, h('legend', {}, 'SSH'),
      field('ssh.command', 'Command', sshCommand, 'Run by the target\'s shell. Variables: $HOST, $PORT, $INDEX, ${NAME}.'),
      h('div', { class: 'row' },
        field('ssh.user', 'User', sshUser),
        field('ssh.port', 'Port', sshPort),
        field('ssh.credential', 'Credential', sshCredential, 'Its user, key, known_hosts and ssh config; the job then sets no key of its own.')),
      h('div', { class: 'row' },
        field('ssh.auth.privateKeyFile', 'Private key file (on the workers)', sshKey),
        field('ssh.knownHostsFile', 'known_hosts file (on the workers)', sshKnownHosts)),
      h('div', { class: 'row' },
        field('ssh.hostKeyPolicy', 'Host key policy', sshPolicy),
        h('div', { class: 'field check' }, h('label', {}, sshAgent, ' use the worker\'s ssh-agent')))),
    h('fieldset', {}, h('legend', {}, 'Limits'),
      h('div', { class: 'row' },
        field('maxConcurrency', 'Concurrency', maxConc, 'Requests in flight per worker.'),
        field('ratePerSecond', 'Rate cap (/s)', rate),
        field('maxBodyBytes', 'Body cap (bytes)', maxBody)),
      h('div', { class: 'row' },
        field('timeouts.connect', 'Connect timeout', connect),
        field('timeouts.request', 'Request timeout', request),
        field('retries.max', 'Retries', retries),
        field('retries.backoff', 'Retry backoff', backoff))),
    h('fieldset', {}, h('legend', {}, 'Aggregation'),
      field('aggregation.regex', 'Regex', regex, 'Group 1 of the regex on each body (SSH: stdout) is the result\'s value.')),
    h('div', { class: 'submit-row' }, submitBtn),
    h('details', {}, h('summary', {}, 'Job spec (JSON)'), preview),
  );
  root.append(h('h1', {}, 'New job'), form);

  const useGroup = () => srcGroup.checked;
  const useSSH = () => protoSSH.checked;
  const fsHTTP = form.querySelector('#fs-http');
  const fsSSH = form.querySelector('#fs-ssh');
  const onProtocol = () => {
    fsHTTP.hidden = useSSH();
    fsSSH.hidden = !useSSH();
    updatePreview();
  };
  protoHTTP.addEventListener('change', onProtocol);
  protoSSH.addEventListener('change', onProtocol);

  // The credentials list is the admin's: another caller types a name.
  api.whoami().then((me) => {
    if (me.auth && me.role !== 'admin') return null;
    return api.get('/api/v1/credentials', ctx.signal);
  }).then((data) => {
    const names = (data?.items || []).map((c) => c.name);
    if (!names.length) return;
    const sel = h('select', {}, h('option', { value: '' }, '(none)'), names.map((n) => h('option', { value: n }, n)));
    sel.id = sshCredential.id;
    sel.setAttribute('aria-describedby', sshCredential.getAttribute('aria-describedby'));
    sshCredential.replaceWith(sel);
    sshCredential = sel;
    inputs.set('ssh.credential', sel);
    updatePreview();
  }).catch(() => {}); // no list (404 without credentials, 403): the text field stays
  const onSource = () => {
    targetsField.hidden = useGroup();
    groupField.hidden = !useGroup();
    updatePreview();
  };
  srcList.addEventListener('change', onSource);
  srcGroup.addEventListener('change', onSource);

  api.get('/api/v1/nodegroups', ctx.signal).then((data) => {
    const names = data.items || [];
    replace(nodeGroup, names.length ? names.map((n) => h('option', { value: n }, n)) : h('option', { value: '' }, '(no node groups defined)'));
    updatePreview();
  }).catch((err) => {
    if (!api.isAbort(err)) replace(nodeGroup, h('option', { value: '' }, 'node groups: ' + err.message));
  });

  // build reads the form into a job spec; client-side problems (a number
  // that is not one, a header without a colon) come back in errs.
  function build() {
    const spec = {};
    const errs = [];
    const num = (fieldPath, el, int) => {
      const v = el.value.trim();
      if (!v) return undefined;
      const n = Number(v);
      if (!isFinite(n) || (int && !Number.isInteger(n))) {
        errs.push([fieldPath, `${v} is not a ${int ? 'whole ' : ''}number`]);
        return undefined;
      }
      return n;
    };
    if (name.value.trim()) spec.name = name.value.trim();
    if (useGroup()) {
      spec.nodeGroup = nodeGroup.value;
    } else {
      spec.targets = targets.value.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
        .flatMap((l) => l.split(/\s+/));
    }
    if (useSSH()) {
      spec.protocol = 'ssh';
      const ssh = {};
      if (sshCommand.value.trim()) ssh.command = sshCommand.value.trim();
      if (sshUser.value.trim()) ssh.user = sshUser.value.trim();
      const sp = num('ssh.port', sshPort, true);
      if (sp !== undefined) ssh.port = sp;
      if (sshCredential.value.trim()) ssh.credential = sshCredential.value.trim();
      const auth = {};
      if (sshKey.value.trim()) auth.privateKeyFile = sshKey.value.trim();
      if (sshAgent.checked) auth.agent = true;
      if (Object.keys(auth).length) ssh.auth = auth;
      if (sshKnownHosts.value.trim()) ssh.knownHostsFile = sshKnownHosts.value.trim();
      if (sshPolicy.value) ssh.hostKeyPolicy = sshPolicy.value;
      spec.ssh = ssh;
    } else {
      const http = { method: method.value };
      if (scheme.value) http.scheme = scheme.value;
      if (port.value.trim()) http.port = port.value.trim();
      if (path.value.trim()) http.path = path.value.trim();
      const hdrs = {};
      headers.value.split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        const c = line.indexOf(':');
        if (c <= 0) {
          errs.push(['http.headers', `line ${i + 1}: "${line.trim()}" is not "Name: value"`]);
          return;
        }
        hdrs[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      });
      if (Object.keys(hdrs).length) http.headers = hdrs;
      if (body.value) http.body = body.value;
      if (insecure.checked) http.insecureSkipVerify = true;
      spec.http = http;
    }
    const mc = num('maxConcurrency', maxConc, true);
    if (mc !== undefined) spec.maxConcurrency = mc;
    const rp = num('ratePerSecond', rate, false);
    if (rp !== undefined) spec.ratePerSecond = rp;
    const mb = num('maxBodyBytes', maxBody, true);
    if (mb !== undefined) spec.maxBodyBytes = mb;
    const timeouts = {};
    if (connect.value.trim()) timeouts.connect = connect.value.trim();
    if (request.value.trim()) timeouts.request = request.value.trim();
    if (Object.keys(timeouts).length) spec.timeouts = timeouts;
    const rt = {};
    const rm = num('retries.max', retries, true);
    if (rm !== undefined) rt.max = rm;
    if (backoff.value.trim()) rt.backoff = backoff.value.trim();
    if (Object.keys(rt).length) spec.retries = rt;
    if (regex.value) spec.aggregation = { regex: regex.value };
    return { spec, errs };
  }

  function updatePreview() {
    const { spec } = build();
    const shown = { ...spec };
    if (shown.targets && shown.targets.length > 20) {
      shown.targets = [...shown.targets.slice(0, 20), `… ${shown.targets.length - 20} more`];
    }
    preview.textContent = JSON.stringify(shown, null, 2);
  }
  form.addEventListener('input', updatePreview);
  updatePreview();

  function clearErrors() {
    for (const [p, el] of errors) {
      el.textContent = '';
      inputs.get(p).removeAttribute('aria-invalid');
      el.closest('.field').classList.remove('invalid');
    }
    formError.hidden = true;
    formError.textContent = '';
  }

  // showError puts a message next to the control of the field the server
  // named: "targets[3]" belongs to targets, "http.headers.X-Y" to headers.
  function showError(fieldPath, msg) {
    let key = null;
    if (fieldPath) {
      for (const p of errors.keys()) {
        if (fieldPath === p || fieldPath.startsWith(p + '.') || fieldPath.startsWith(p + '[')) {
          if (!key || p.length > key.length) key = p;
        }
      }
      if ((key === 'targets' && useGroup()) || (key === 'nodeGroup' && !useGroup())) key = useGroup() ? 'nodeGroup' : 'targets';
      if (key && errors.get(key).closest('[hidden]')) key = null; // a field of the other protocol: at the top
    }
    if (!key) {
      formError.hidden = false;
      formError.textContent = fieldPath ? `${fieldPath}: ${msg}` : msg;
      formError.scrollIntoView({ block: 'nearest' });
      return;
    }
    const el = errors.get(key);
    el.textContent = msg;
    el.closest('.field').classList.add('invalid');
    const control = inputs.get(key);
    control.setAttribute('aria-invalid', 'true');
    control.focus();
    el.scrollIntoView({ block: 'nearest' });
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const { spec, errs } = build();
    if (errs.length) {
      for (const [p, m] of errs) showError(p, m);
      return;
    }
    submitBtn.disabled = true;
    submitBtn.textContent = 'Submitting…';
    try {
      const st = await api.post('/api/v1/jobs', spec, ctx.signal);
      location.hash = '#/job/' + encodeURIComponent(st.id);
    } catch (err) {
      if (api.isAbort(err)) return;
      showError(err.field, err.message);
      submitBtn.disabled = false;
      submitBtn.textContent = 'Submit job';
    }
  });
}
