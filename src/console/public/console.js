// Gatehouse operator console: one plain ES module, no dependencies, nothing loaded from
// elsewhere. The DOM is built with createElement and textContent only (never innerHTML),
// so text from devices and policies cannot become markup. Every call is a management API
// operation made with the session cookie; the server authorizes each one with the
// signed-in user's IAM policies and audits it.

// Every refresh is an API call, audited like any other: refresh while the tab is seen, not faster than needed.
const POLL_MS = 3000;
const HISTORY_MS = 3_600_000;

const state = {
  session: null,
  timers: [],
  permissions: new Map(),
  history: [],
  denials: [],
  denialsAfter: 0,
  apiDenialIds: new Set(),
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function sparkline(values, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 100 30');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  if (values.length > 1) {
    const max = Math.max(1, ...values);
    const step = 100 / (values.length - 1);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(2)},${(29 - (v / max) * 28).toFixed(2)}`).join(' '));
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(line);
  }
  return svg;
}

// ISO 8601 text, or epoch seconds as AWS's JSON answers carry them.
const toDate = (v) => (typeof v === 'number' ? new Date(v * 1000) : new Date(v));
const time = (v) => toDate(v).toLocaleTimeString();
const dateTime = (v) => toDate(v).toLocaleString();
const daysLeft = (iso) => Math.floor((new Date(iso).getTime() - Date.now()) / 86_400_000);

class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

async function api(method, path, options = {}) {
  const headers = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && state.session !== null) headers['x-csrf-token'] = state.session.csrfToken;
  if (options.background) headers['x-gatehouse-background'] = '1';
  Object.assign(headers, options.headers ?? {});
  const res = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), credentials: 'same-origin', cache: 'no-store' });
  const text = await res.text();
  let data;
  try {
    data = text === '' ? undefined : JSON.parse(text);
  } catch {
    data = text;
  }
  if (!res.ok) {
    const code = data?.error?.code ?? res.headers.get('x-amzn-errortype') ?? String(res.status);
    const message = data?.error?.message ?? data?.message ?? res.statusText;
    if (res.status === 401 && state.session !== null) sessionEnded();
    throw new ApiError(res.status, code, message, data);
  }
  return data;
}

/** An IAM operation (AWS's query protocol, XML answers read with the browser's own parser). */
async function iam(action, params = {}) {
  const headers = { accept: 'text/xml', 'content-type': 'application/x-www-form-urlencoded', 'x-gatehouse-service': 'iam', 'x-csrf-token': state.session.csrfToken };
  const res = await fetch('/', { method: 'POST', headers, body: new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }).toString(), credentials: 'same-origin', cache: 'no-store' });
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  if (!res.ok) {
    if (res.status === 401 && state.session !== null) sessionEnded();
    throw new ApiError(res.status, xml.querySelector('Error > Code')?.textContent ?? String(res.status), xml.querySelector('Error > Message')?.textContent ?? res.statusText);
  }
  return xml;
}

/** The `member` elements under the first element named `list`, each as an object of its children's text. */
function members(xml, list) {
  const parent = xml.getElementsByTagName(list)[0];
  if (parent === undefined) return [];
  return [...parent.children].filter((m) => m.tagName === 'member').map((m) => Object.fromEntries([...m.children].map((c) => [c.tagName, c.textContent])));
}

/** A refusal, explained: the API's own words (who, what, on which resource, why). */
function refusal(e, what) {
  if (e instanceof ApiError && e.status === 403) {
    return h('div', { class: 'refusal', role: 'alert' },
      h('strong', {}, `Refused: ${what}. `), e.message,
      h('div', { class: 'muted' }, 'Your IAM policies decide what the console may do; ask an administrator to grant the action, or look it up in the audit log.'));
  }
  return h('div', { class: 'refusal', role: 'alert' }, h('strong', {}, `${what} failed: `), `${e.message} (${e.code ?? 'error'})`);
}

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

function confirmAction(title, text) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

/** Runs an action after confirmation; reports success or the refusal. */
async function act(title, text, run, done) {
  if (!(await confirmAction(title, text))) return;
  try {
    await run();
    toast(`${title}: done`);
    if (done) await done();
  } catch (e) {
    toast(`${title}: ${e.message}`);
    const main = $('main');
    main.prepend(refusal(e, title));
  }
}

// ---- permissions: the buttons shown are the ones the user's policies allow ----

function arn(service, type, name) {
  const d = state.session.deployment;
  return `arn:${d.partition}:${service}:${d.region}:${d.accountId}:${type}/${name}`;
}

async function allowed(checks) {
  const missing = checks.filter((c) => !state.permissions.has(`${c.action} ${c.resource}`));
  if (missing.length > 0) {
    for (let i = 0; i < missing.length; i += 100) {
      const r = await api('POST', '/console/permissions', { body: { checks: missing.slice(i, i + 100) }, background: true });
      for (const x of r.results) state.permissions.set(`${x.action} ${x.resource}`, x.allowed);
    }
  }
  return checks.map((c) => state.permissions.get(`${c.action} ${c.resource}`) === true);
}

// ---- timers of the page shown ----

function every(ms, fn) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      // A hidden tab asks nothing (and its session's idle timeout runs on).
      if (!document.hidden) await fn();
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(e);
    }
    if (!stopped) handle.id = setTimeout(tick, ms);
  };
  const handle = { id: undefined, stop: () => { stopped = true; clearTimeout(handle.id); } };
  state.timers.push(handle);
  void tick();
  const wake = () => {
    if (!document.hidden && !stopped) {
      clearTimeout(handle.id);
      void tick();
    }
  };
  document.addEventListener('visibilitychange', wake);
  const stop = handle.stop;
  handle.stop = () => {
    stop();
    document.removeEventListener('visibilitychange', wake);
  };
}

function stopTimers() {
  for (const t of state.timers.splice(0)) t.stop();
}

// ---- sign-in, sign-out, session end ----

function showSignIn(message) {
  stopTimers();
  state.session = null;
  state.permissions.clear();
  $('app-view').hidden = true;
  $('signin-view').hidden = false;
  $('signin-error').textContent = message ?? '';
  document.title = 'Sign in · Gatehouse console';
  $('signin-key').focus();
}

function sessionEnded() {
  showSignIn('Your session has ended (signed out, idle or too old, or its access key was deactivated). Sign in again.');
}

function startApp(session) {
  state.session = session;
  $('signin-view').hidden = true;
  $('app-view').hidden = false;
  $('who').textContent = session.user.name;
  $('who').title = session.user.arn;
  if (location.hash === '' || location.hash === '#') location.hash = '#/overview';
  else void route();
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = $('signin-key');
  const secret = $('signin-secret');
  $('signin-error').textContent = '';
  if (key.value.trim() === '' || secret.value === '') {
    $('signin-error').textContent = 'Enter the access key ID and its secret.';
    return;
  }
  try {
    const s = await api('POST', '/console/session', { body: { accessKeyId: key.value.trim(), secretAccessKey: secret.value } });
    secret.value = '';
    startApp(s);
  } catch (e) {
    secret.value = '';
    $('signin-error').textContent = e.message;
    secret.focus();
  }
});

$('signout').addEventListener('click', async () => {
  try {
    await api('DELETE', '/console/session');
  } catch {
    // Ended already: the sign-in form follows either way.
  }
  showSignIn('Signed out.');
});

// ---- router ----

const PAGES = { overview: overviewPage, devices: devicesPage, denials: denialsPage, policies: policiesPage, shadows: shadowsPage, jobs: jobsPage, retained: retainedPage, audit: auditPage, iam: iamPage };

async function route() {
  if (state.session === null) return;
  stopTimers();
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const page = PAGES[name] ? name : 'overview';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = $('main');
  main.replaceChildren();
  document.title = `${document.querySelector(`#nav a[data-page="${page}"]`).textContent} · Gatehouse console`;
  await PAGES[page](main, rest.map(decodeURIComponent));
}

window.addEventListener('hashchange', () => void route());

// ---- Overview ----

function card(label, value, chart) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-testid': label }, value), chart);
}

function rate(points, field, perMs) {
  if (points.length < 2) return 0;
  const a = points[points.length - 2];
  const b = points[points.length - 1];
  const dt = b.t - a.t;
  return dt > 0 ? Math.max(0, (b[field] - a[field]) / dt) * perMs : 0;
}

function rates(field, perMs) {
  const out = [];
  for (let i = 1; i < state.history.length; i++) {
    const a = state.history[i - 1];
    const b = state.history[i];
    out.push(b.t > a.t ? Math.max(0, (b[field] - a[field]) / (b.t - a.t)) * perMs : 0);
  }
  return out;
}

async function overviewPage(main) {
  main.append(h('h1', {}, 'Overview'), h('p', { class: 'muted' }, 'Live: refreshed every 3 seconds; charts cover the time this page has been open, up to an hour. ', h('span', { id: 'updated' })));
  const body = h('div', { id: 'overview' });
  main.append(body);
  every(POLL_MS, async () => {
    let o;
    try {
      o = await api('GET', '/gatehouse/overview', { background: true });
    } catch (e) {
      body.replaceChildren(refusal(e, 'reading the overview (gatehouse:GetMetrics)'));
      if (e instanceof ApiError && e.status === 403) stopTimers();
      return;
    }
    const c = o.counters ?? { messagesPublished: 0, connectionsAccepted: 0, denialsByOperation: {}, connectionsClosed: {} };
    const denials = Object.values(c.denialsByOperation).reduce((a, b) => a + b, 0);
    const now = Date.now();
    state.history.push({ t: now, connected: o.connectedDevices ?? 0, published: c.messagesPublished, accepted: c.connectionsAccepted, denials });
    while (state.history.length > 0 && state.history[0].t < now - HISTORY_MS) state.history.shift();
    const h1 = state.history;
    $('updated').textContent = `Updated ${time(o.at)}.`;
    const byReason = Object.entries(o.denialsByReason ?? {}).sort((a, b) => b[1] - a[1]);
    const certs = o.certificates;
    body.replaceChildren(
      h('div', { class: 'cards' },
        card('Connected devices', String(o.connectedDevices ?? '–'), sparkline(h1.map((p) => p.connected), 'Connected devices over time')),
        card('Messages per second', rate(h1, 'published', 1000).toFixed(1), sparkline(rates('published', 1000), 'Messages per second over time')),
        card('Connections per minute', rate(h1, 'accepted', 60_000).toFixed(1), sparkline(rates('accepted', 60_000), 'Connections per minute over time')),
        card('Denials per minute', rate(h1, 'denials', 60_000).toFixed(1), sparkline(rates('denials', 60_000), 'Denials per minute over time'))),
      h('div', { class: 'grid2' },
        h('section', { class: 'panel', 'aria-labelledby': 'h-reasons' }, h('h2', { id: 'h-reasons' }, 'Denials by reason (since start)'),
          byReason.length === 0 ? h('p', { class: 'muted' }, 'No denial yet.')
            : h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Count'))),
              h('tbody', {}, byReason.map(([r, n]) => h('tr', {}, h('td', {}, h('code', {}, r)), h('td', {}, String(n)))))),
          h('p', {}, h('a', { href: '#/denials' }, 'Why was it refused? See each denial'))),
        h('section', { class: 'panel', 'aria-labelledby': 'h-health' }, h('h2', { id: 'h-health' }, 'Health'),
          h('ul', {},
            h('li', {}, 'Registry: ', h('span', { class: o.health.registry === 'ok' ? 'ok' : 'error' }, o.health.registry)),
            h('li', {}, 'MQTT broker: ', h('span', { class: o.health.broker === 'ok' ? 'ok' : 'warn' }, o.health.broker)),
            h('li', {}, `Things: ${o.health.things ?? '–'}`),
            h('li', {}, `Device groups in force: ${o.health.deviceGroups}`),
            h('li', {}, `Identity sessions: ${o.identitySessions ?? '–'}`))),
        h('section', { class: 'panel', 'aria-labelledby': 'h-certs' }, h('h2', { id: 'h-certs' }, `Certificate expiry (next ${certs.horizonDays} days)`),
          h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Certificate'), h('th', { scope: 'col' }, 'Expires'), h('th', { scope: 'col' }, 'Days left'))),
            h('tbody', {},
              certs.gateway.map((g) => certRow(g.role, g.notAfter)),
              certs.trustedCas.map((g) => certRow(`Device CA ${g.subject}`, g.notAfter)),
              certs.devices.expiringSoon.map((d) => certRow(`Device ${d.certificateId.slice(0, 12)}… ${d.subject}`, d.notAfter)))),
          h('p', {}, `${certs.devices.active} active device certificates; ${certs.devices.expired} expired; ${certs.devices.expiringSoon.length} expiring within ${certs.horizonDays} days.`))));
  });
}

function certRow(label, notAfter) {
  const left = daysLeft(notAfter);
  return h('tr', {}, h('td', { class: 'wrap' }, label), h('td', {}, dateTime(notAfter)), h('td', { class: left < 0 ? 'error' : left < 30 ? 'warn' : '' }, String(left)));
}

// ---- Devices ----

async function devicesPage(main, [selected]) {
  main.append(h('h1', {}, 'Devices'));
  const search = h('input', { id: 'thing-search', type: 'search', placeholder: 'name, attribute or type' });
  const thingsBox = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading things…'));
  const sessionsBox = h('div', { class: 'table-wrap', id: 'sessions' }, h('p', { class: 'muted' }, 'Loading sessions…'));
  const detail = h('section', { id: 'thing-detail', 'aria-live': 'polite' });
  main.append(
    h('section', { class: 'panel', 'aria-labelledby': 'h-sessions' }, h('h2', { id: 'h-sessions' }, 'Live sessions'), sessionsBox),
    h('section', { class: 'panel', 'aria-labelledby': 'h-things' }, h('h2', { id: 'h-things' }, 'Things'),
      h('label', { for: 'thing-search' }, 'Search things'), search, thingsBox),
    detail);

  let things = [];
  let connected = new Map();
  const renderThings = () => {
    const q = search.value.trim().toLowerCase();
    const shown = things.filter((t) => q === '' || t.thingName.toLowerCase().includes(q) || (t.thingTypeName ?? '').toLowerCase().includes(q)
      || Object.entries(t.attributes ?? {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q)));
    thingsBox.replaceChildren(shown.length === 0 ? h('p', { class: 'muted' }, 'No thing matches.')
      : h('table', {}, h('thead', {}, h('tr', {}, ['Thing', 'Type', 'Attributes', 'Connected'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, shown.map((t) => h('tr', { class: t.thingName === selected ? 'selected' : '' },
          h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(t.thingName)}` }, t.thingName)),
          h('td', {}, t.thingTypeName ?? ''),
          h('td', { class: 'wrap' }, Object.entries(t.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')),
          h('td', {}, connected.has(t.thingName) ? h('span', { class: 'pill active' }, 'online') : h('span', { class: 'muted' }, 'offline')))))));
  };
  search.addEventListener('input', renderThings);
  try {
    let token;
    things = [];
    do {
      const r = await api('GET', `/things?maxResults=250${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
      things.push(...r.things);
      token = r.nextToken;
    } while (token && things.length < 5000);
    renderThings();
  } catch (e) {
    thingsBox.replaceChildren(refusal(e, 'listing things (iot:ListThings)'));
  }

  every(POLL_MS, async () => {
    let r;
    try {
      r = await api('GET', '/gatehouse/sessions', { background: true });
    } catch (e) {
      sessionsBox.replaceChildren(refusal(e, 'listing sessions (gatehouse:ListSessions)'));
      if (e instanceof ApiError && e.status === 403) stopTimers();
      return;
    }
    const before = [...connected.keys()].join('\n');
    connected = new Map(r.sessions.map((s) => [s.thingName, s]));
    const may = await allowed(r.sessions.map((s) => ({ action: 'gatehouse:DisconnectSession', resource: arn('gatehouse', 'session', s.clientId) })));
    sessionsBox.replaceChildren(r.sessions.length === 0 ? h('p', { class: 'muted' }, 'No device is connected.')
      : h('table', {}, h('thead', {}, h('tr', {}, ['Client id', 'Thing', 'Address', 'Since', 'Subscriptions', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, r.sessions.map((s, i) => h('tr', { 'data-client-id': s.clientId },
          h('td', {}, s.clientId), h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(s.thingName)}` }, s.thingName)),
          h('td', {}, s.sourceIp ?? ''), h('td', {}, time(s.connectedAt)), h('td', { class: 'wrap' }, s.subscriptions.join(', ')),
          h('td', {}, may[i] ? h('button', { type: 'button', onclick: () => act('Disconnect', `Disconnect ${s.clientId}? The device may connect again unless its certificate is revoked.`,
            () => api('DELETE', `/gatehouse/sessions/${encodeURIComponent(s.clientId)}`)) }, 'Disconnect') : ''))))));
    if (before !== [...connected.keys()].join('\n')) renderThings();
  });

  if (selected !== undefined) await thingDetail(detail, selected);
}

async function thingDetail(box, name) {
  box.replaceChildren(h('h2', { id: 'h-detail', tabindex: '-1' }, `Thing ${name}`));
  box.className = 'panel';
  box.setAttribute('aria-labelledby', 'h-detail');
  const reload = () => thingDetail(box, name);
  try {
    const t = await api('GET', `/things/${encodeURIComponent(name)}`);
    box.append(h('p', {}, `Type: ${t.thingTypeName ?? 'none'} · version ${t.version}`),
      h('p', { class: 'wrap' }, 'Attributes: ', Object.entries(t.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'));
  } catch (e) {
    box.append(refusal(e, `describing thing ${name} (iot:DescribeThing)`));
  }
  try {
    const g = await api('GET', `/things/${encodeURIComponent(name)}/thing-groups`);
    box.append(h('p', {}, 'Thing groups: ', (g.thingGroups ?? []).map((x) => x.groupName).join(', ') || 'none'));
  } catch (e) {
    box.append(refusal(e, 'listing its thing groups (iot:ListThingGroupsForThing)'));
  }
  let principals = [];
  try {
    principals = (await api('GET', `/things/${encodeURIComponent(name)}/principals`)).principals ?? [];
  } catch (e) {
    box.append(refusal(e, 'listing its certificates (iot:ListThingPrincipals)'));
    return;
  }
  let policyNames = [];
  try {
    policyNames = ((await api('GET', '/policies')).policies ?? []).map((p) => p.policyName);
  } catch {
    // Without iot:ListPolicies the attach form is not offered.
  }
  box.append(h('h3', {}, 'Certificates'));
  if (principals.length === 0) box.append(h('p', { class: 'muted' }, 'No certificate is attached to this thing.'));
  for (const certArn of principals) {
    const id = certArn.slice(certArn.lastIndexOf('/') + 1);
    const section = h('div', { class: 'panel', 'data-certificate-id': id });
    box.append(section);
    let d;
    try {
      d = (await api('GET', `/certificates/${id}`)).certificateDescription;
    } catch (e) {
      section.append(refusal(e, `describing certificate ${id.slice(0, 12)}… (iot:DescribeCertificate)`));
      continue;
    }
    const status = d.status;
    section.append(h('p', {}, h('span', { class: 'mono wrap' }, id), ' ', h('span', { class: `pill ${status.toLowerCase()}`, 'data-testid': 'certificate-status' }, status)),
      d.validity ? h('p', {}, `Valid ${dateTime(d.validity.notBefore)} to ${dateTime(d.validity.notAfter)}`) : '');
    let attached = [];
    try {
      attached = ((await api('POST', `/attached-policies/${encodeURIComponent(certArn)}`, { body: {} })).policies ?? []).map((p) => p.policyName);
    } catch (e) {
      section.append(refusal(e, 'listing its policies (iot:ListAttachedPolicies)'));
    }
    const [mayUpdate, mayAttach, mayDetach] = await allowed([
      { action: 'iot:UpdateCertificate', resource: certArn }, { action: 'iot:AttachPolicy', resource: certArn }, { action: 'iot:DetachPolicy', resource: certArn }]);
    section.append(h('p', {}, 'Policies: ', attached.length === 0 ? 'none' : ''),
      h('ul', {}, attached.map((p) => h('li', {}, p, ' ', mayDetach ? h('button', { type: 'button', class: 'link', onclick: () => act('Detach policy',
        `Detach policy ${p} from certificate ${id.slice(0, 12)}…? Connections with it are re-checked at once.`,
        () => api('POST', `/target-policies/${encodeURIComponent(p)}`, { body: { target: certArn } }), reload) }, `Detach ${p}`) : ''))));
    const actions = h('div', { class: 'actions' });
    if (mayUpdate) {
      if (status !== 'ACTIVE') {
        actions.append(h('button', { type: 'button', onclick: () => act('Activate certificate', `Activate certificate ${id.slice(0, 12)}…? Devices holding it can connect again.`,
          () => api('PUT', `/certificates/${id}?newStatus=ACTIVE`), reload) }, 'Activate'));
      }
      if (status === 'ACTIVE') {
        actions.append(h('button', { type: 'button', onclick: () => act('Deactivate certificate', `Deactivate certificate ${id.slice(0, 12)}…? Devices using it are disconnected and refused until it is activated again.`,
          () => api('PUT', `/certificates/${id}?newStatus=INACTIVE`), reload) }, 'Deactivate'));
      }
      if (status !== 'REVOKED') {
        actions.append(h('button', { type: 'button', class: 'danger', onclick: () => act('Revoke certificate', `Revoke certificate ${id.slice(0, 12)}…? Devices using it are disconnected and refused.`,
          () => api('PUT', `/certificates/${id}?newStatus=REVOKED`), reload) }, 'Revoke'));
      }
    }
    if (mayAttach && policyNames.length > 0) {
      const sel = h('select', { id: `attach-${id}` }, policyNames.filter((p) => !attached.includes(p)).map((p) => h('option', { value: p }, p)));
      if (sel.options.length > 0) {
        actions.append(h('span', { class: 'row' }, h('label', { for: `attach-${id}` }, 'Policy to attach'), sel,
          h('button', { type: 'button', onclick: () => act('Attach policy', `Attach policy ${sel.value} to certificate ${id.slice(0, 12)}…?`,
            () => api('PUT', `/target-policies/${encodeURIComponent(sel.value)}`, { body: { target: certArn } }), reload) }, 'Attach')));
      }
    }
    if (actions.childNodes.length === 0) actions.append(h('p', { class: 'muted' }, 'Your policies allow no change to this certificate.'));
    section.append(actions);
  }
}

// ---- Why was it refused? ----

async function denialsPage(main) {
  main.append(h('h1', {}, 'Why was it refused?'),
    h('p', { class: 'muted' }, 'The live stream of denials: MQTT actions refused by the broker and API calls refused by IAM policies. Choose one to see why, then try variations of the request.'));
  const list = h('div', { class: 'table-wrap', id: 'denials' }, h('p', { class: 'muted' }, 'Waiting for denials…'));
  const explain = h('section', { id: 'explanation', 'aria-live': 'polite' });
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'h-stream' }, h('h2', { id: 'h-stream' }, 'Denials, newest first'), list), explain);
  const errors = h('div');
  list.before(errors);

  const render = () => {
    list.replaceChildren(state.denials.length === 0 ? h('p', { class: 'muted' }, 'No denial yet.')
      : h('table', {}, h('thead', {}, h('tr', {}, ['Time', 'Who', 'Action', 'Resource', 'Reason', 'Deciding policy', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, state.denials.map((d) => h('tr', {},
          h('td', {}, time(d.at)), h('td', { class: 'wrap' }, d.who), h('td', {}, d.action), h('td', { class: 'wrap' }, d.resource ?? ''),
          h('td', {}, h('code', {}, d.reason)), h('td', { class: 'wrap' }, d.policy ? `${d.policy}${d.statement ? ` / ${d.statement}` : ''}` : '—'),
          h('td', {}, h('button', { type: 'button', onclick: () => void explainDenial(explain, d) }, 'Why?')))))));
  };
  render();
  every(POLL_MS, async () => {
    const problems = [];
    const fresh = [];
    try {
      const r = await api('GET', `/gatehouse/denials?after=${state.denialsAfter}&maxResults=200`, { background: true });
      for (const d of r.denials) {
        fresh.push({ key: `m${d.seq}`, kind: 'mqtt', at: d.at, who: d.thingName ?? d.clientId ?? 'unknown device', action: d.operation, resource: d.resource ?? (d.clientId ? `mqtt:clientId:${d.clientId}` : ''),
          reason: d.reason, policy: d.policy, statement: d.statement, raw: d });
      }
      state.denialsAfter = r.latest;
    } catch (e) {
      problems.push(refusal(e, 'reading MQTT denials (gatehouse:ListDenials)'));
    }
    try {
      const r = await api('GET', '/gatehouse/audit?decision=deny&limit=50', { background: true });
      for (const a of r.records) {
        if (state.apiDenialIds.has(a.id)) continue;
        state.apiDenialIds.add(a.id);
        fresh.push({ key: `a${a.id}`, kind: 'api', at: a.at, who: a.principal, action: a.action, resource: a.resource, reason: a.reason, policy: a.policy, statement: a.statement, raw: a });
      }
    } catch (e) {
      problems.push(refusal(e, 'reading API denials (gatehouse:ListAuditRecords)'));
    }
    errors.replaceChildren(...problems);
    if (fresh.length > 0) {
      state.denials = [...fresh, ...state.denials].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, 200);
      // Remember only the API denials still listed (the audit read returns the newest 50).
      state.apiDenialIds = new Set(state.denials.filter((d) => d.kind === 'api').map((d) => d.raw.id));
      render();
    }
  });
}

const REASON_TEXT = {
  DENIED_BY_STATEMENT: 'a statement with Effect Deny applies (an explicit deny wins over every allow)',
  NO_MATCHING_STATEMENT: 'no statement allows it (implicit deny)',
  IMPLICIT_DENY: 'no statement allows it (implicit deny)',
};

async function explainDenial(box, d) {
  box.className = 'panel';
  const heading = h('h2', { id: 'h-explain', tabindex: '-1' }, 'Why it was refused');
  box.replaceChildren(heading);
  box.setAttribute('aria-labelledby', 'h-explain');
  box.append(h('p', {}, `${d.who} asked for ${d.action}${d.resource ? ` on ${d.resource}` : ''} at ${dateTime(d.at)}: refused with `, h('code', {}, d.reason),
    REASON_TEXT[d.reason] ? ` — ${REASON_TEXT[d.reason]}.` : '.'),
  d.policy ? h('p', {}, 'Deciding policy: ', h('strong', {}, d.policy), d.statement ? [', statement ', h('strong', {}, d.statement)] : '') : '');
  heading.focus();
  if (d.kind === 'api') {
    box.append(h('p', {}, 'An API call is decided by the caller\'s IAM identity policies. Attach a policy that allows this action on this resource (and remove any Deny that names it) to let it through.'),
      h('pre', {}, JSON.stringify(d.raw, null, 2)));
    box.append(await iamEditForm(d));
    return;
  }
  const raw = d.raw;
  const request = { thingName: raw.thingName ?? raw.clientId ?? '', operation: raw.operation,
    resource: raw.resource ?? `mqtt:clientId:${raw.clientId ?? ''}`, certificateId: raw.certificateId };
  const result = h('div', { id: 'explain-result' });
  box.append(h('h3', {}, 'The explanation'), result);
  const x = await runExplain(result, request);
  box.append(simulateForm(request));
  if (x !== undefined) box.append(await mqttEditForm(request, x));
}

async function runExplain(box, request, edit) {
  box.replaceChildren(h('p', { class: 'muted' }, 'Asking the gateway…'));
  const body = { thingName: request.thingName, operation: request.operation, resource: request.resource, ...(edit ?? {}) };
  if (request.certificateId) body.certificateId = request.certificateId;
  if (request.retain) body.retain = true;
  try {
    const x = await api('POST', '/gatehouse/explain', { body });
    box.replaceChildren(
      x.simulated ? h('p', { class: 'muted' }, 'Decided under your edit; nothing was applied.') : '',
      h('p', { 'data-testid': 'explain-verdict' }, h('span', { class: `pill ${x.allowed ? 'allow' : 'deny'}` }, x.allowed ? 'Allowed' : 'Denied'), ' ', h('code', {}, x.reason)),
      h('p', { 'data-testid': 'explain-message' }, x.message),
      h('ul', {},
        x.dialect ? h('li', {}, `Decided by the ${x.dialect === 'iot' ? 'AWS IoT policy' : 'device group'} dialect`) : '',
        x.group ? h('li', {}, `Device group: ${x.group}`) : '',
        x.policy ? h('li', {}, `Policy: ${x.policy}`) : '',
        x.statement ? h('li', {}, `Statement: ${x.statement}`) : '',
        x.resourcePattern ? h('li', {}, `Resource pattern: ${x.resourcePattern}`) : '',
        x.iotPolicies ? h('li', {}, `AWS IoT policies in force: ${x.iotPolicies.join(', ') || 'none'}`) : '',
        x.missingIotPolicies && x.missingIotPolicies.length > 0 ? h('li', { class: 'error' }, `Missing IoT policies: ${x.missingIotPolicies.join(', ')}`) : '',
        h('li', {}, `Groups of the device: ${x.groups.map((g) => g.name).join(', ') || 'none'}`)),
      (x.matches.length > 0 || (x.iotMatches ?? []).length > 0) ? h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Effect', 'Policy', 'Statement', 'Resource'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {},
          x.matches.map((m) => h('tr', {}, h('td', {}, m.effect), h('td', {}, `${m.group} / ${m.policy}`), h('td', {}, m.statement), h('td', { class: 'wrap' }, m.resolved))),
          (x.iotMatches ?? []).map((m) => h('tr', {}, h('td', {}, m.effect), h('td', {}, m.policy), h('td', {}, m.statement), h('td', { class: 'wrap' }, m.resources.join(', '))))))) : h('p', { class: 'muted' }, 'No statement applies to this request.'));
    return x;
  } catch (e) {
    const problems = e instanceof ApiError ? e.data?.error?.problems : undefined;
    box.replaceChildren(problems ? h('div', {}, h('p', { class: 'error', role: 'alert' }, `${e.message}.`), problemsTable(problems)) : refusal(e, 'explaining (gatehouse:Explain)'));
    return undefined;
  }
}

function simulateForm(request) {
  const f = (id, label, value, attrs = {}) => [h('label', { for: id }, label), h('input', { id, value: value ?? '', ...attrs })];
  const op = h('select', { id: 'sim-operation' }, ['mqtt:connect', 'mqtt:publish', 'mqtt:subscribe'].map((o) => h('option', { value: o, selected: o === request.operation }, o)));
  const retain = h('input', { id: 'sim-retain', type: 'checkbox' });
  const out = h('div', { id: 'simulate-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'simulate-form', class: 'panel' },
    h('h3', {}, 'Simulate'),
    h('p', { class: 'muted' }, 'The same request, pre-filled: change the topic, the operation or the device and ask again. Nothing is sent to any device.'),
    f('sim-thing', 'Thing name', request.thingName, { required: true }),
    h('label', { for: 'sim-operation' }, 'Operation'), op,
    f('sim-resource', 'Resource (mqtt:clientId:…, mqtt:topic:… or mqtt:topicfilter:…)', request.resource, { required: true }),
    f('sim-cert', 'Certificate id (optional)', request.certificateId),
    h('label', { for: 'sim-retain' }, retain, ' Retained publish'),
    h('button', { type: 'submit', class: 'primary' }, 'Simulate'), out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void runExplain(out, { thingName: $('sim-thing').value.trim(), operation: op.value, resource: $('sim-resource').value.trim(), certificateId: $('sim-cert').value.trim() || undefined, retain: retain.checked });
  });
  return form;
}

// ---- Policies ----

async function policiesPage(main, [selected]) {
  main.append(h('h1', {}, 'Policies'));
  const iot = h('section', { class: 'panel', 'aria-labelledby': 'h-iot' }, h('h2', { id: 'h-iot' }, 'AWS IoT policies'));
  const groups = h('section', { class: 'panel', 'aria-labelledby': 'h-groups' }, h('h2', { id: 'h-groups' }, 'Device groups (configuration file)'));
  main.append(iot, groups);
  try {
    const r = await api('GET', '/policies');
    const names = (r.policies ?? []).map((p) => p.policyName);
    iot.append(names.length === 0 ? h('p', { class: 'muted' }, 'No AWS IoT policy.')
      : h('ul', {}, names.map((n) => h('li', {}, h('a', { href: `#/policies/${encodeURIComponent(n)}`, 'aria-current': n === selected ? 'true' : undefined }, n)))));
  } catch (e) {
    iot.append(refusal(e, 'listing policies (iot:ListPolicies)'));
  }
  if (selected !== undefined) {
    const box = h('div', { class: 'panel' }, h('h3', {}, `Policy ${selected}`));
    iot.append(box);
    try {
      const p = await api('GET', `/policies/${encodeURIComponent(selected)}`);
      let doc = p.policyDocument;
      try { doc = JSON.stringify(JSON.parse(doc), null, 2); } catch { /* shown as stored */ }
      box.append(h('p', {}, `Default version ${p.defaultVersionId}`), h('pre', {}, doc));
    } catch (e) {
      box.append(refusal(e, `reading policy ${selected} (iot:GetPolicy)`));
    }
    try {
      const t = await api('POST', `/policy-targets/${encodeURIComponent(selected)}`, { body: {} });
      const targets = t.targets ?? [];
      const items = [];
      for (const target of targets) {
        let things = [];
        if (target.includes(':cert/')) {
          try {
            things = (await api('GET', '/principals/things', { headers: { 'x-amzn-principal': target } })).things ?? [];
          } catch { /* shown without its things */ }
        }
        items.push(h('li', { class: 'wrap' }, target, things.length > 0 ? [' — things: ', things.map((n, i) => [i > 0 ? ', ' : '', h('a', { href: `#/devices/${encodeURIComponent(n)}` }, n)])] : ''));
      }
      box.append(h('h3', {}, 'Applies to'), targets.length === 0 ? h('p', { class: 'muted' }, 'Attached to nothing.') : h('ul', {}, items));
    } catch (e) {
      box.append(refusal(e, 'listing its targets (iot:ListTargetsForPolicy)'));
    }
  }
  let config;
  try {
    config = await api('GET', '/gatehouse/configuration');
  } catch (e) {
    groups.append(refusal(e, 'reading the configuration (gatehouse:GetConfiguration)'));
    return;
  }
  groups.append(h('p', {}, `In force: ${config.groups.join(', ') || 'no device group'}`), h('p', { class: 'muted' }, `File: ${config.file ?? 'none (started without a configuration file)'}`));
  if (config.text === undefined) return;
  const [mayApply] = await allowed([{ action: 'gatehouse:ApplyConfiguration', resource: '*' }]);
  const text = h('textarea', { id: 'config-text', rows: '16', spellcheck: 'false' });
  text.value = config.text;
  const out = h('div', { id: 'validation', 'aria-live': 'polite' });
  const validate = async () => {
    try {
      const v = await api('POST', '/gatehouse/configuration/validate', { body: { text: text.value } });
      out.replaceChildren(issues(v));
      return v.valid;
    } catch (e) {
      out.replaceChildren(refusal(e, 'validating (gatehouse:ValidateConfiguration)'));
      return false;
    }
  };
  groups.append(h('label', { for: 'config-text' }, 'Edit and validate before applying'), text,
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => void validate() }, 'Validate'),
      mayApply ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!(await validate())) return;
        await act('Apply configuration', 'Write this configuration over the gateway\'s file and apply it? Live connections are re-checked at once.',
          () => api('PUT', '/gatehouse/configuration', { body: { text: text.value } }), () => route());
      } }, 'Apply') : ''),
    out);
}

function issues(v) {
  const row = (i, kind) => h('tr', {}, h('td', {}, kind), h('td', {}, h('code', {}, i.code)), h('td', { class: 'wrap' }, h('code', {}, i.path)), h('td', {}, i.message), h('td', {}, i.fix ?? ''));
  return h('div', {}, h('p', { class: v.valid ? 'ok' : 'error' }, v.valid ? `Valid: ${v.groups ?? 0} groups, ${v.policies ?? 0} policies.` : `Refused: ${v.errors.length} error(s); nothing was applied.`),
    v.errors.length + v.warnings.length === 0 ? '' : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['', 'Code', 'Path', 'Problem', 'Fix'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, v.errors.map((i) => row(i, 'Error')), v.warnings.map((i) => row(i, 'Warning'))))));
}

// ---- Retained messages (data plane) ----

async function retainedPage(main) {
  main.append(h('h1', {}, 'Retained messages'),
    h('p', { class: 'muted' }, 'The retained MQTT messages the broker keeps, in topic order. Deleting one publishes nothing: subscribers are not told.'));
  const out = h('div', { class: 'table-wrap', id: 'retained' }, h('p', { class: 'muted' }, 'Loading…'));
  const shown = h('section', { id: 'retained-message', 'aria-live': 'polite' });
  main.append(out, shown);
  const load = async (token) => {
    let r;
    try {
      r = await api('GET', `/gatehouse/retained?maxResults=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
    } catch (e) {
      out.replaceChildren(refusal(e, 'listing retained messages (gatehouse:ListRetainedMessages)'));
      return;
    }
    const may = await allowed(r.retainedMessages.map((m) => ({ action: 'gatehouse:DeleteRetainedMessage', resource: arn('iot', 'topic', m.topic) })));
    out.replaceChildren(r.retainedMessages.length === 0 ? h('p', { class: 'muted' }, 'No retained message.') : h('table', {},
      h('thead', {}, h('tr', {}, ['Topic', 'Size', 'QoS', 'Stored', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.retainedMessages.map((m, i) => h('tr', { 'data-topic': m.topic },
        h('td', { class: 'wrap' }, h('button', { type: 'button', class: 'link', onclick: () => void showRetained(shown, m.topic) }, m.topic)),
        h('td', {}, `${m.payloadSize} B`), h('td', {}, String(m.qos)), h('td', {}, dateTime(new Date(m.lastModifiedTime).toISOString())),
        h('td', {}, may[i] ? h('button', { type: 'button', onclick: () => act('Delete retained message', `Delete the retained message on ${m.topic}? Nothing is published.`,
          () => api('DELETE', `/gatehouse/retained/${encodeURIComponent(m.topic)}`), () => load()) }, 'Delete') : ''))))),
    r.nextToken ? h('button', { type: 'button', onclick: () => void load(r.nextToken) }, 'Next topics') : '');
  };
  await load();
}

async function showRetained(box, topic) {
  box.className = 'panel';
  box.replaceChildren(h('h2', {}, topic));
  try {
    const m = await api('GET', `/gatehouse/retained/${encodeURIComponent(topic)}`);
    const bytes = Uint8Array.from(atob(m.payload), (c) => c.charCodeAt(0));
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      text = `(binary, ${bytes.length} bytes) ${m.payload}`;
    }
    box.append(h('p', {}, `QoS ${m.qos}, ${m.payloadSize} bytes`), h('pre', {}, text));
  } catch (e) {
    box.append(refusal(e, 'reading the message (gatehouse:GetRetainedMessage)'));
  }
}

// ---- Users, roles and access keys ----

async function iamPage(main) {
  main.append(h('h1', {}, 'Users, roles and access keys'),
    h('p', { class: 'muted' }, 'The principals of the management API and the console. Secrets are never listed: a new key\'s secret is shown once, when it is created, and never again.'));
  const usersBox = h('section', { class: 'panel', id: 'iam-users', 'aria-labelledby': 'h-users' }, h('h2', { id: 'h-users' }, 'Users'));
  const rolesBox = h('section', { class: 'panel', id: 'iam-roles', 'aria-labelledby': 'h-roles' }, h('h2', { id: 'h-roles' }, 'Roles'));
  main.append(usersBox, rolesBox);
  let users;
  try {
    users = members(await iam('ListUsers'), 'Users');
  } catch (e) {
    usersBox.append(refusal(e, 'listing users (iam:ListUsers)'));
    users = undefined;
  }
  if (users !== undefined) {
    const rows = [];
    for (const u of users) {
      let keys = [];
      let policies = [];
      try { keys = members(await iam('ListAccessKeys', { UserName: u.UserName }), 'AccessKeyMetadata'); } catch { /* shown without keys */ }
      try { policies = members(await iam('ListAttachedUserPolicies', { UserName: u.UserName }), 'AttachedPolicies').map((p) => p.PolicyName); } catch { /* shown without policies */ }
      const [mayUpdate] = await allowed([{ action: 'iam:UpdateAccessKey', resource: u.Arn }]);
      const own = u.UserName === state.session.user.name;
      rows.push(h('tr', { 'data-user': u.UserName },
        h('td', {}, u.UserName), h('td', { class: 'wrap' }, policies.join(', ') || 'none'),
        h('td', {}, h('ul', {}, keys.map((k) => h('li', { 'data-access-key': k.AccessKeyId }, h('span', { class: 'mono' }, k.AccessKeyId), ' ',
          h('span', { class: `pill ${k.Status.toLowerCase()}` }, k.Status), ' ',
          mayUpdate && !(own && k.AccessKeyId === state.session.accessKeyId) ? h('button', { type: 'button', onclick: () => {
            const next = k.Status === 'Active' ? 'Inactive' : 'Active';
            void act(next === 'Active' ? 'Activate access key' : 'Deactivate access key',
              `${next === 'Active' ? 'Activate' : 'Deactivate'} access key ${k.AccessKeyId} of ${u.UserName}?${next === 'Inactive' ? ' Requests signed with it, and console sessions signed in with it, are refused at once.' : ''}`,
              () => iam('UpdateAccessKey', { UserName: u.UserName, AccessKeyId: k.AccessKeyId, Status: next }), () => route());
          } }, k.Status === 'Active' ? 'Deactivate' : 'Activate') : '')))),
        h('td', {}, u.CreateDate ? dateTime(u.CreateDate) : '')));
    }
    usersBox.append(h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['User', 'Policies', 'Access keys', 'Created'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows))));
    await iamAdminForms(usersBox, users);
  }
  try {
    const roles = members(await iam('ListRoles'), 'Roles');
    const rows = [];
    for (const r of roles) {
      let policies = [];
      try { policies = members(await iam('ListAttachedRolePolicies', { RoleName: r.RoleName }), 'AttachedPolicies').map((p) => p.PolicyName); } catch { /* shown without policies */ }
      rows.push(h('tr', {}, h('td', {}, r.RoleName), h('td', { class: 'wrap' }, r.Arn), h('td', { class: 'wrap' }, policies.join(', ') || 'none')));
    }
    rolesBox.append(roles.length === 0 ? h('p', { class: 'muted' }, 'No role.') : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Role', 'ARN', 'Policies'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows))));
  } catch (e) {
    rolesBox.append(refusal(e, 'listing roles (iam:ListRoles)'));
  }
}

// ---- Audit log ----

async function auditPage(main) {
  main.append(h('h1', {}, 'Audit log'));
  const principal = h('input', { id: 'audit-principal', placeholder: 'arn:…:user/name' });
  const action = h('input', { id: 'audit-action', placeholder: 'iot:UpdateCertificate' });
  const decision = h('select', { id: 'audit-decision' }, h('option', { value: '' }, 'any'), h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny'));
  const out = h('div', { class: 'table-wrap', id: 'audit' });
  const form = h('form', { class: 'panel row' },
    h('div', {}, h('label', { for: 'audit-principal' }, 'Principal'), principal),
    h('div', {}, h('label', { for: 'audit-action' }, 'Action'), action),
    h('div', {}, h('label', { for: 'audit-decision' }, 'Decision'), decision),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  main.append(form, out);
  const load = async (beforeId) => {
    const q = new URLSearchParams({ limit: '100' });
    if (principal.value.trim()) q.set('principal', principal.value.trim());
    if (action.value.trim()) q.set('action', action.value.trim());
    if (decision.value) q.set('decision', decision.value);
    if (beforeId !== undefined) q.set('beforeId', String(beforeId));
    try {
      const r = await api('GET', `/gatehouse/audit?${q}`);
      out.replaceChildren(r.records.length === 0 ? h('p', { class: 'muted' }, 'No record matches.') : h('table', {},
        h('thead', {}, h('tr', {}, ['Time', 'Principal', 'Action', 'Resource', 'Decision', 'Reason', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, r.records.map((a) => h('tr', {}, h('td', {}, dateTime(a.at)), h('td', { class: 'wrap' }, a.principal), h('td', {}, a.action), h('td', { class: 'wrap' }, a.resource),
          h('td', {}, h('span', { class: `pill ${a.decision}` }, a.decision)), h('td', {}, h('code', {}, a.reason), a.policy ? ` (${a.policy}${a.statement ? ` / ${a.statement}` : ''})` : ''), h('td', {}, String(a.status)))))),
      r.nextBeforeId !== undefined ? h('button', { type: 'button', onclick: () => void load(r.nextBeforeId) }, 'Older records') : '');
    } catch (e) {
      out.replaceChildren(refusal(e, 'reading the audit log (gatehouse:ListAuditRecords)'));
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void load();
  });
  await load();
}

// ---- Shadows (data plane) ----

const shadowPath = (thing, shadow) => `/things/${encodeURIComponent(thing)}/shadow${shadow ? `?name=${encodeURIComponent(shadow)}` : ''}`;
const shadowArn = (thing, shadow) => arn('iot', 'thing', shadow ? `${thing}/${shadow}` : thing);

async function shadowsPage(main, [thing]) {
  main.append(h('h1', {}, 'Device Shadows'),
    h('p', { class: 'muted' }, 'The classic and named shadows of a thing: desired and reported state, the delta between them, version and last update. Devices and applications change shadows over MQTT or the data plane; here they are read and, when your policies allow, deleted.'));
  const pick = h('input', { id: 'shadow-thing', value: thing ?? '', list: 'shadow-things', autocomplete: 'off', spellcheck: 'false', required: true });
  const names = h('datalist', { id: 'shadow-things' });
  const form = h('form', { class: 'panel row' }, h('div', {}, h('label', { for: 'shadow-thing' }, 'Thing name'), pick, names), h('button', { type: 'submit', class: 'primary' }, 'Show shadows'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (pick.value.trim() !== '') location.hash = `#/shadows/${encodeURIComponent(pick.value.trim())}`;
  });
  const out = h('div', { id: 'shadows', 'aria-live': 'polite' });
  main.append(form, out);
  api('GET', '/things?maxResults=250').then((r) => names.replaceChildren(...r.things.map((t) => h('option', { value: t.thingName }))), () => { /* typed by hand then */ });
  if (thing === undefined) return;
  out.append(h('h2', {}, `Shadows of ${thing}`));
  let named = [];
  try {
    let token;
    do {
      const r = await api('GET', `/api/things/shadow/ListNamedShadowsForThing/${encodeURIComponent(thing)}?pageSize=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
      named.push(...r.results);
      token = r.nextToken;
    } while (token && named.length < 1000);
  } catch (e) {
    out.append(refusal(e, 'listing its named shadows (iot:ListNamedShadowsForThing)'));
    named = [];
  }
  const shadows = ['', ...named];
  const may = await allowed(shadows.map((s) => ({ action: 'iot:DeleteThingShadow', resource: shadowArn(thing, s) })));
  for (const [i, s] of shadows.entries()) out.append(await shadowPanel(thing, s, may[i]));
}

async function shadowPanel(thing, shadow, mayDelete) {
  const title = shadow === '' ? 'Classic shadow' : `Named shadow ${shadow}`;
  const box = h('section', { class: 'panel', 'data-shadow': shadow === '' ? '(classic)' : shadow }, h('h3', {}, title));
  let d;
  try {
    d = await api('GET', shadowPath(thing, shadow));
  } catch (e) {
    box.append(e instanceof ApiError && e.status === 404 ? h('p', { class: 'muted' }, 'No such shadow (none was created, or it was deleted).') : refusal(e, `reading the ${title.toLowerCase()} (iot:GetThingShadow)`));
    return box;
  }
  const state = d.state ?? {};
  const part = (label, value) => h('div', {}, h('h4', {}, label), value === undefined ? h('p', { class: 'muted' }, 'none') : h('pre', { 'data-part': label.toLowerCase() }, JSON.stringify(value, null, 2)));
  box.append(h('p', {}, h('span', { 'data-testid': 'shadow-version' }, `Version ${d.version}`), ` · last update ${d.timestamp ? dateTime(d.timestamp) : 'unknown'}`),
    h('div', { class: 'grid3' }, part('Desired', state.desired), part('Reported', state.reported), part('Delta', state.delta)));
  if (mayDelete) {
    box.append(h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: () => act(`Delete ${title.toLowerCase()}`,
      `Delete the ${title.toLowerCase()} of ${thing} (version ${d.version})? Its desired and reported state are gone; devices subscribed to its delete/accepted topic are told.`,
      () => api('DELETE', shadowPath(thing, shadow)), () => route()) }, 'Delete shadow')));
  }
  return box;
}

// ---- Jobs (control plane) ----

const EXECUTION_FINAL = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'REMOVED', 'CANCELED', 'TIMED_OUT']);

async function jobsPage(main, [selected]) {
  main.append(h('h1', {}, 'Jobs'), h('p', { class: 'muted' }, 'Jobs sent to things and thing groups, and each thing\'s execution of them.'));
  const list = h('section', { class: 'panel', id: 'jobs', 'aria-labelledby': 'h-jobs' }, h('h2', { id: 'h-jobs' }, 'Jobs'));
  const detail = h('section', { id: 'job-detail', 'aria-live': 'polite' });
  main.append(list, detail);
  const [mayCreate] = await allowed([{ action: 'iot:CreateJob', resource: arn('iot', 'job', '*') }]);
  if (mayCreate) main.insertBefore(createJobForm(), list);
  try {
    const r = await api('GET', '/jobs?maxResults=250');
    list.append(r.jobs.length === 0 ? h('p', { class: 'muted' }, 'No job.') : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Job', 'Status', 'Targets', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.jobs.map((j) => h('tr', { 'data-job': j.jobId, class: j.jobId === selected ? 'selected' : '' },
        h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.jobId)}` }, j.jobId)), h('td', {}, h('span', { class: `pill ${j.status.toLowerCase()}` }, j.status)),
        h('td', {}, j.targetSelection), h('td', {}, j.createdAt ? dateTime(j.createdAt) : '')))))));
  } catch (e) {
    list.append(refusal(e, 'listing jobs (iot:ListJobs)'));
  }
  if (selected !== undefined) await jobDetail(detail, selected);
}

function createJobForm() {
  const id = h('input', { id: 'job-id', required: true, spellcheck: 'false', pattern: '[a-zA-Z0-9_-]{1,64}' });
  const things = h('input', { id: 'job-things', spellcheck: 'false', placeholder: 'dev-1, dev-2' });
  const groups = h('input', { id: 'job-groups', spellcheck: 'false', placeholder: 'lamps' });
  const doc = h('textarea', { id: 'job-document', rows: '5', spellcheck: 'false' });
  doc.value = '{\n  "operation": "reboot"\n}';
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', id: 'create-job', 'aria-labelledby': 'h-create-job' }, h('h2', { id: 'h-create-job' }, 'Create a job'),
    h('label', { for: 'job-id' }, 'Job ID (letters, digits, - and _)'), id,
    h('label', { for: 'job-things' }, 'Things (names, comma-separated)'), things,
    h('label', { for: 'job-groups' }, 'Thing groups (names, comma-separated)'), groups,
    h('label', { for: 'job-document' }, 'Job document (JSON)'), doc,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create job')), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const split = (s) => s.value.split(',').map((x) => x.trim()).filter((x) => x !== '');
    const targets = [...split(things).map((n) => arn('iot', 'thing', n)), ...split(groups).map((n) => arn('iot', 'thinggroup', n))];
    try {
      JSON.parse(doc.value);
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, `The job document is not JSON: ${e.message}`));
      return;
    }
    if (id.value.trim() === '' || targets.length === 0) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'Give a job ID and at least one thing or thing group.'));
      return;
    }
    const jobId = id.value.trim();
    await act('Create job', `Create job ${jobId} for ${targets.length} target(s)? Each thing is sent its execution at once.`,
      () => api('PUT', `/jobs/${encodeURIComponent(jobId)}`, { body: { targets, document: doc.value, targetSelection: 'SNAPSHOT' } }),
      () => { location.hash = `#/jobs/${encodeURIComponent(jobId)}`; });
  });
  return form;
}

async function jobDetail(box, jobId) {
  box.className = 'panel';
  box.replaceChildren(h('h2', { id: 'h-job', tabindex: '-1' }, `Job ${jobId}`));
  let job;
  try {
    job = (await api('GET', `/jobs/${encodeURIComponent(jobId)}`)).job;
  } catch (e) {
    box.append(refusal(e, `describing job ${jobId} (iot:DescribeJob)`));
    return;
  }
  const jobArn = arn('iot', 'job', jobId);
  const [mayCancel] = await allowed([{ action: 'iot:CancelJob', resource: jobArn }]);
  box.append(h('p', {}, 'Status ', h('span', { class: `pill ${job.status.toLowerCase()}`, 'data-testid': 'job-status' }, job.status), ` · ${job.targetSelection} · created ${dateTime(job.createdAt)}`),
    h('p', { class: 'wrap' }, `Targets: ${job.targets.join(', ')}`));
  if (mayCancel && job.status === 'IN_PROGRESS') {
    box.append(h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: () => act('Cancel job', `Cancel job ${jobId}? Its queued executions are canceled; those in progress run on.`,
      () => api('PUT', `/jobs/${encodeURIComponent(jobId)}/cancel`, { body: {} }), () => route()) }, 'Cancel job')));
  }
  try {
    const r = await api('GET', `/jobs/${encodeURIComponent(jobId)}/things?maxResults=250`);
    const rows = r.executionSummaries.map((x) => ({ thing: x.thingArn.slice(x.thingArn.lastIndexOf('/') + 1), ...x.jobExecutionSummary }));
    const may = await allowed(rows.flatMap((x) => [{ action: 'iot:CancelJobExecution', resource: arn('iot', 'thing', x.thing) }, { action: 'iot:DeleteJobExecution', resource: arn('iot', 'thing', x.thing) }]));
    const [jobCancelExec, jobDeleteExec] = await allowed([{ action: 'iot:CancelJobExecution', resource: jobArn }, { action: 'iot:DeleteJobExecution', resource: jobArn }]);
    box.append(h('h3', {}, 'Executions'), rows.length === 0 ? h('p', { class: 'muted' }, 'No execution.') : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Thing', 'Status', 'Execution', 'Queued', 'Last update', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((x, i) => {
        const base = `/things/${encodeURIComponent(x.thing)}/jobs/${encodeURIComponent(jobId)}`;
        const actions = [];
        if (jobCancelExec && may[2 * i] && !EXECUTION_FINAL.has(x.status)) {
          actions.push(h('button', { type: 'button', onclick: () => act('Cancel execution', `Cancel the execution of ${jobId} on ${x.thing}?${x.status === 'IN_PROGRESS' ? ' It is in progress: the device may be part-way through it.' : ''}`,
            () => api('PUT', `${base}/cancel${x.status === 'IN_PROGRESS' ? '?force=true' : ''}`, { body: {} }), () => route()) }, 'Cancel'));
        }
        if (jobDeleteExec && may[2 * i + 1]) {
          actions.push(h('button', { type: 'button', class: 'danger', onclick: () => act('Delete execution', `Delete execution ${x.executionNumber} of ${jobId} on ${x.thing}? Its record is gone for good.`,
            () => api('DELETE', `${base}/executionNumber/${x.executionNumber}${EXECUTION_FINAL.has(x.status) ? '' : '?force=true'}`), () => route()) }, 'Delete'));
        }
        return h('tr', { 'data-thing': x.thing }, h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(x.thing)}` }, x.thing)),
          h('td', {}, h('span', { class: `pill ${x.status.toLowerCase()}`, 'data-testid': 'execution-status' }, x.status)), h('td', {}, String(x.executionNumber)),
          h('td', {}, x.queuedAt ? time(x.queuedAt) : ''), h('td', {}, x.lastUpdatedAt ? time(x.lastUpdatedAt) : ''), h('td', {}, actions));
      })))));
  } catch (e) {
    box.append(refusal(e, 'listing its executions (iot:ListJobExecutionsForJob)'));
  }
}

// ---- Policy edits, simulated before they are applied ----

function problemsTable(problems) {
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'problems' },
    h('thead', {}, h('tr', {}, ['Code', 'Path', 'Problem', 'Fix'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, problems.map((p) => h('tr', {}, h('td', {}, h('code', {}, p.code)), h('td', { class: 'wrap' }, h('code', {}, p.path || '/')), h('td', {}, p.message), h('td', {}, p.fix ?? ''))))));
}

/**
 * For an MQTT denial: edit one of the AWS IoT policies in force for the device, or the
 * device groups, decide the same request under the edit, and apply it on confirmation.
 * The deciding dialect's is offered first (the AWS IoT policies when no device group
 * selects the thing).
 */
async function mqttEditForm(request, explanation) {
  const box = h('form', { class: 'panel', id: 'edit-simulate', 'aria-labelledby': 'h-edit' }, h('h3', { id: 'h-edit' }, 'Edit a policy and simulate'));
  const iotNames = explanation.iotPolicies ?? [];
  const iotFirst = explanation.dialect === 'iot' || (iotNames.length > 0 && explanation.reason === 'NO_GROUP_SELECTS_THING');
  const deciding = explanation.policy && iotNames.includes(explanation.policy) ? explanation.policy : iotNames[0];
  const targets = [...iotNames.map((n) => ({ kind: 'iot', name: n, label: `AWS IoT policy ${n}` })), { kind: 'groups', label: 'Device groups (the configuration file)' }];
  if (iotFirst) targets.sort((a, b) => (a.name === deciding ? -1 : b.name === deciding ? 1 : 0));
  else targets.unshift(targets.pop());
  const choice = h('select', { id: 'edit-target' }, targets.map((x, i) => h('option', { value: String(i) }, x.label)));
  const label = h('label', { for: 'edit-document' });
  const text = h('textarea', { id: 'edit-document', rows: '14', spellcheck: 'false' });
  const note = h('p', { class: 'muted' });
  const out = h('div', { id: 'edit-result', 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions' });
  const target = () => targets[Number(choice.value)];
  const edit = () => (target().kind === 'iot' ? { iotPolicyOverride: { policyName: target().name, policyDocument: text.value } } : { configurationText: text.value });
  const simulate = () => runExplain(out, request, edit());
  const load = async () => {
    const x = target();
    out.replaceChildren();
    actions.replaceChildren(h('button', { type: 'submit', class: 'primary' }, 'Decide under this edit'));
    let applyCheck;
    if (x.kind === 'iot') {
      label.textContent = `Policy document of ${x.name}`;
      note.textContent = `The AWS IoT policy ${x.name}, as in force. Change it and decide the request above under your edit; nothing is applied until you apply it.`;
      try {
        const p = await api('GET', `/policies/${encodeURIComponent(x.name)}`);
        try { text.value = JSON.stringify(JSON.parse(p.policyDocument), null, 2); } catch { text.value = p.policyDocument; }
      } catch (e) {
        out.replaceChildren(refusal(e, `reading policy ${x.name} (iot:GetPolicy)`));
        return;
      }
      applyCheck = { action: 'iot:CreatePolicyVersion', resource: arn('iot', 'policy', x.name) };
    } else {
      label.textContent = 'Configuration file';
      note.textContent = 'The device groups come from the configuration file in force. Change it and decide the request above under your edit; nothing is applied until you apply it.';
      try {
        const c = await api('GET', '/gatehouse/configuration');
        if (c.text === undefined) {
          text.value = '';
          out.replaceChildren(h('p', { class: 'muted' }, 'The gateway was started without a configuration file: the device groups cannot be edited here.'));
          return;
        }
        text.value = c.text;
      } catch (e) {
        out.replaceChildren(refusal(e, 'reading the configuration (gatehouse:GetConfiguration)'));
        return;
      }
      applyCheck = { action: 'gatehouse:ApplyConfiguration', resource: '*' };
    }
    const [mayApply] = await allowed([applyCheck]);
    actions.append(mayApply ? h('button', { type: 'button', class: 'danger', id: 'edit-apply', onclick: async () => {
      if ((await simulate()) === undefined) return;
      const iot = target().kind === 'iot';
      await act(iot ? `Apply policy ${target().name}` : 'Apply configuration', iot
        ? `Make this document the default version of ${target().name}? Every connection it applies to is re-checked at once.`
        : 'Write this configuration over the gateway\'s file and apply it? Live connections are re-checked at once.',
      () => (iot ? api('POST', `/policies/${encodeURIComponent(target().name)}/version?setAsDefault=true`, { body: { policyDocument: text.value } })
        : api('PUT', '/gatehouse/configuration', { body: { text: text.value } })));
    } }, 'Apply…') : h('span', { class: 'muted' }, 'Your policies do not allow applying it.'));
  };
  choice.addEventListener('change', () => void load());
  box.append(h('label', { for: 'edit-target' }, 'What to edit'), choice, note, label, text, actions, out);
  box.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void simulate();
  });
  await load();
  return box;
}

/** The policy names and documents in force for an IAM principal (a user's, or an assumed role's). */
async function principalPolicies(principalArn) {
  const m = /^arn:[^:]+:(iam|sts)::\d+:(user|assumed-role)\/([^/]+)/.exec(principalArn);
  if (m === null) return undefined;
  const [, , kind, name] = m;
  const attached = kind === 'user' ? members(await iam('ListAttachedUserPolicies', { UserName: name }), 'AttachedPolicies')
    : members(await iam('ListAttachedRolePolicies', { RoleName: name }), 'AttachedPolicies');
  const out = [];
  for (const p of attached) {
    const meta = await iam('GetPolicy', { PolicyArn: p.PolicyArn });
    const version = meta.getElementsByTagName('DefaultVersionId')[0]?.textContent ?? 'v1';
    const v = await iam('GetPolicyVersion', { PolicyArn: p.PolicyArn, VersionId: version });
    out.push({ name: p.PolicyName, arn: p.PolicyArn, document: decodeURIComponent(v.getElementsByTagName('Document')[0]?.textContent ?? '') });
  }
  return { kind, name, policies: out };
}

/** SimulateCustomPolicy over these documents: [{ decision, source }] per action and resource. */
async function simulateIam(documents, action, resource) {
  const params = { 'ActionNames.member.1': action, 'ResourceArns.member.1': resource };
  documents.forEach((d, i) => { params[`PolicyInputList.member.${i + 1}`] = d; });
  const xml = await iam('SimulateCustomPolicy', params);
  const r = members(xml, 'EvaluationResults')[0] ?? {};
  const source = xml.getElementsByTagName('SourcePolicyId')[0]?.textContent;
  return { decision: r.EvalDecision ?? 'implicitDeny', index: source ? Number(source.slice(source.lastIndexOf('.') + 1)) - 1 : undefined };
}

const EVAL_TEXT = { allowed: 'Allowed', explicitDeny: 'Denied by a Deny statement', implicitDeny: 'Denied: no statement allows it' };

/** For an API denial: edit one of the caller's IAM policies, decide the same call under the edit (SimulateCustomPolicy), apply it on confirmation. */
async function iamEditForm(d) {
  const box = h('form', { class: 'panel', id: 'edit-simulate', 'aria-labelledby': 'h-edit' }, h('h3', { id: 'h-edit' }, 'Edit a policy and simulate'));
  let found;
  try {
    found = await principalPolicies(d.who);
  } catch (e) {
    return refusal(e, 'reading the caller\'s policies (iam:ListAttachedUserPolicies, iam:GetPolicyVersion)');
  }
  if (found === undefined) return h('p', { class: 'muted' }, 'This caller is not an IAM user or role of this gateway: there is no policy to edit.');
  if (found.policies.length === 0) return h('p', { class: 'muted' }, `${found.name} has no policy attached: attach one (Users page) to allow ${d.action}.`);
  const select = h('select', { id: 'edit-policy' }, found.policies.map((p, i) => h('option', { value: String(i), selected: p.name === d.policy }, p.name)));
  const text = h('textarea', { id: 'edit-document', rows: '14', spellcheck: 'false' });
  const out = h('div', { id: 'edit-result', 'aria-live': 'polite' });
  const load = () => {
    const doc = found.policies[Number(select.value)].document;
    try { text.value = JSON.stringify(JSON.parse(doc), null, 2); } catch { text.value = doc; }
  };
  select.addEventListener('change', load);
  load();
  const simulate = async () => {
    const documents = found.policies.map((p, i) => (i === Number(select.value) ? text.value : p.document));
    try {
      const r = await simulateIam(documents, d.action, d.resource || '*');
      const by = r.index !== undefined ? found.policies[r.index]?.name : undefined;
      out.replaceChildren(h('p', { 'data-testid': 'simulate-verdict' }, h('span', { class: `pill ${r.decision === 'allowed' ? 'allow' : 'deny'}` }, r.decision === 'allowed' ? 'Allowed' : 'Denied'), ' ',
        `${EVAL_TEXT[r.decision] ?? r.decision} — ${d.action} on ${d.resource || '*'} for ${found.name}, with your edit`, by ? ` (decided by ${by})` : '', '. Nothing was applied.'));
      return r.decision;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'MalformedPolicyDocument') {
        const m = /^(?:PolicyInputList\.\d+: )?(.*) \(path (.*); fix: (.*)\)$/.exec(e.message);
        out.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'The edited document is not valid; nothing was decided or applied.'),
          problemsTable([{ code: 'MalformedPolicyDocument', path: m ? m[2] : '', message: m ? m[1] : e.message, fix: m ? m[3] : '' }]));
      } else {
        out.replaceChildren(refusal(e, 'simulating (iam:SimulateCustomPolicy)'));
      }
      return undefined;
    }
  };
  const policyArn = () => found.policies[Number(select.value)].arn;
  const [mayApply] = await allowed(found.policies.map((p) => ({ action: 'iam:CreatePolicyVersion', resource: p.arn })));
  box.append(h('p', { class: 'muted' }, `The IAM policies of ${found.name}. Change one and simulate: the refused call is decided under your edit (iam:SimulateCustomPolicy); nothing is applied until you apply it.`),
    h('label', { for: 'edit-policy' }, 'Policy'), select, h('label', { for: 'edit-document' }, 'Policy document'), text,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Decide under this edit'),
      mayApply ? h('button', { type: 'button', class: 'danger', id: 'edit-apply', onclick: async () => {
        if ((await simulate()) === undefined) return;
        const name = found.policies[Number(select.value)].name;
        await act(`Apply policy ${name}`, `Make this document the default version of ${name}? Every user and role it is attached to is decided under it from the next call.`,
          () => iam('CreatePolicyVersion', { PolicyArn: policyArn(), PolicyDocument: text.value, SetAsDefault: 'true' }));
      } }, 'Apply…') : h('p', { class: 'muted' }, 'Your policies do not allow applying it.')),
    out);
  box.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void simulate();
  });
  return box;
}

// ---- Creating users, access keys, roles and policies ----

const iamArnOf = (type, name) => `arn:${state.session.deployment.partition}:iam::${state.session.deployment.accountId}:${type}/${name}`;

function field(id, label, attrs = {}) {
  return [h('label', { for: id }, label), h(attrs.rows ? 'textarea' : 'input', { id, spellcheck: 'false', autocomplete: 'off', ...attrs })];
}

/** A form that runs `run` after confirmation and shows the refusal, with path and fix for a document IAM refuses. */
function iamForm(id, title, fields, confirmText, run) {
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', id, 'aria-labelledby': `h-${id}` }, h('h3', { id: `h-${id}` }, title), fields, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, title)), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const text = confirmText();
    if (text === undefined) return;
    if (!(await confirmAction(title, text))) return;
    try {
      await run(out);
      if (out.childNodes.length === 0) await route();
    } catch (e) {
      const m = e instanceof ApiError && e.code === 'MalformedPolicyDocument' ? /^(.*) \((?:path )?([^;)]*)(?:; fix: (.*))?\)$/.exec(e.message) : null;
      out.replaceChildren(m ? h('div', {}, h('p', { class: 'error', role: 'alert' }, 'The document is not valid; nothing was created.'), problemsTable([{ code: e.code, path: m[2], message: m[1], fix: m[3] ?? '' }])) : refusal(e, title));
    }
  });
  return form;
}

/** Checks an IAM policy document (SimulateCustomPolicy compiles it and decides nothing that is kept): the problems with path and fix, or none. */
async function validateIamDocument(doc, out) {
  try {
    await simulateIam([doc], 'iam:GetUser', '*');
    out.replaceChildren(h('p', { class: 'ok' }, 'Valid: nothing was applied.'));
    return true;
  } catch (e) {
    const m = e instanceof ApiError && e.code === 'MalformedPolicyDocument' ? /^(?:PolicyInputList\.\d+: )?(.*) \(path (.*); fix: (.*)\)$/.exec(e.message) : null;
    out.replaceChildren(m ? h('div', {}, h('p', { class: 'error', role: 'alert' }, 'Refused: nothing was applied.'), problemsTable([{ code: e.code, path: m[2], message: m[1], fix: m[3] }])) : refusal(e, 'validating (iam:SimulateCustomPolicy)'));
    return false;
  }
}

/** The secret of a new access key, shown once in this panel; the page keeps no copy of it. */
function showSecretOnce(out, user, xml) {
  const id = xml.getElementsByTagName('AccessKeyId')[0]?.textContent ?? '';
  const secret = h('input', { id: 'new-secret', readonly: true, value: xml.getElementsByTagName('SecretAccessKey')[0]?.textContent ?? '', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const panel = h('div', { class: 'secret', role: 'alert', id: 'new-key' },
    h('p', {}, h('strong', {}, `New access key of ${user}: `), h('span', { class: 'mono', 'data-testid': 'new-key-id' }, id)),
    h('label', { for: 'new-secret' }, 'Secret access key — shown this once: copy it now, it cannot be shown again'), secret,
    h('button', { type: 'button', class: 'primary', onclick: () => { secret.value = ''; panel.remove(); void route(); } }, 'I have saved it'));
  out.replaceChildren(panel);
  secret.select();
}

async function iamAdminForms(box, users) {
  const [mayUser, mayKey, mayRole, mayPolicy, mayAttach] = await allowed([
    { action: 'iam:CreateUser', resource: iamArnOf('user', '*') }, { action: 'iam:CreateAccessKey', resource: iamArnOf('user', '*') },
    { action: 'iam:CreateRole', resource: iamArnOf('role', '*') }, { action: 'iam:CreatePolicy', resource: iamArnOf('policy', '*') },
    { action: 'iam:AttachUserPolicy', resource: iamArnOf('user', '*') }]);
  const forms = [];
  if (mayUser) {
    forms.push(iamForm('create-user', 'Create user', field('new-user', 'User name'), () => {
      const n = $('new-user').value.trim();
      return n === '' ? undefined : `Create IAM user ${n}? It can do nothing until a policy is attached and it has an access key.`;
    }, () => iam('CreateUser', { UserName: $('new-user').value.trim() })));
  }
  if (mayKey && users.length > 0) {
    const sel = h('select', { id: 'key-user' }, users.map((u) => h('option', { value: u.UserName }, u.UserName)));
    forms.push(iamForm('create-key', 'Create access key', [h('label', { for: 'key-user' }, 'For user'), sel],
      () => `Create an access key for ${sel.value}? Its secret is shown once, here, and never again.`,
      async (out) => showSecretOnce(out, sel.value, await iam('CreateAccessKey', { UserName: sel.value }))));
  }
  if (mayAttach && users.length > 0) {
    let policies = [];
    try { policies = members(await iam('ListPolicies', { Scope: 'Local' }), 'Policies'); } catch { /* not offered without iam:ListPolicies */ }
    if (policies.length > 0) {
      const u = h('select', { id: 'attach-user' }, users.map((x) => h('option', { value: x.UserName }, x.UserName)));
      const p = h('select', { id: 'attach-policy' }, policies.map((x) => h('option', { value: x.Arn }, x.PolicyName)));
      forms.push(iamForm('attach-user-policy', 'Attach policy', [h('label', { for: 'attach-user' }, 'User'), u, h('label', { for: 'attach-policy' }, 'Policy'), p],
        () => `Attach ${p.selectedOptions[0].textContent} to ${u.value}? It takes effect on the user's next call.`,
        () => iam('AttachUserPolicy', { UserName: u.value, PolicyArn: p.value })));
    }
  }
  if (mayPolicy) {
    const [nameL, name] = field('new-policy', 'Policy name');
    const [docL, doc] = field('new-policy-document', 'Policy document (JSON)', { rows: '8' });
    doc.value = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:List*', 'iot:Describe*'], Resource: '*' }] }, null, 2);
    const check = h('div', { 'aria-live': 'polite', id: 'new-policy-validation' });
    const form = iamForm('create-policy', 'Create policy', [nameL, name, docL, doc, h('button', { type: 'button', onclick: () => void validateIamDocument(doc.value, check) }, 'Validate'), check],
      () => (name.value.trim() === '' ? undefined : `Create IAM policy ${name.value.trim()}? It applies to no one until it is attached.`),
      () => iam('CreatePolicy', { PolicyName: name.value.trim(), PolicyDocument: doc.value }));
    forms.push(form);
  }
  if (mayRole) {
    const [nameL, name] = field('new-role', 'Role name');
    const [docL, doc] = field('new-role-trust', 'Trust policy (who may assume it)', { rows: '8' });
    doc.value = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:${state.session.deployment.partition}:iam::${state.session.deployment.accountId}:root` }, Action: 'sts:AssumeRole' }] }, null, 2);
    forms.push(iamForm('create-role', 'Create role', [nameL, name, docL, doc],
      () => (name.value.trim() === '' ? undefined : `Create role ${name.value.trim()} with this trust policy?`),
      () => iam('CreateRole', { RoleName: name.value.trim(), AssumeRolePolicyDocument: doc.value })));
  }
  if (forms.length > 0) box.append(h('section', { class: 'grid2', id: 'iam-admin', 'aria-label': 'Create' }, forms));
}

// ---- start ----

(async () => {
  try {
    startApp(await api('GET', '/console/session'));
  } catch {
    showSignIn('');
  }
})();
