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
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
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
    throw new ApiError(res.status, code, message);
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

const PAGES = { overview: overviewPage, devices: devicesPage, denials: denialsPage, policies: policiesPage, retained: retainedPage, audit: auditPage, iam: iamPage };

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
    return;
  }
  const raw = d.raw;
  const request = { thingName: raw.thingName ?? raw.clientId ?? '', operation: raw.operation,
    resource: raw.resource ?? `mqtt:clientId:${raw.clientId ?? ''}`, certificateId: raw.certificateId };
  const result = h('div', { id: 'explain-result' });
  box.append(h('h3', {}, 'The explanation'), result);
  await runExplain(result, request);
  box.append(simulateForm(request));
}

async function runExplain(box, request) {
  box.replaceChildren(h('p', { class: 'muted' }, 'Asking the gateway…'));
  const body = { thingName: request.thingName, operation: request.operation, resource: request.resource };
  if (request.certificateId) body.certificateId = request.certificateId;
  if (request.retain) body.retain = true;
  try {
    const x = await api('POST', '/gatehouse/explain', { body });
    box.replaceChildren(
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
  } catch (e) {
    box.replaceChildren(refusal(e, 'explaining (gatehouse:Explain)'));
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
    h('p', { class: 'muted' }, 'The principals of the management API and the console. Secrets are never shown: a new key\'s secret is given once, by the CLI or the API that creates it.'));
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

// ---- start ----

(async () => {
  try {
    startApp(await api('GET', '/console/session'));
  } catch {
    showSignIn('');
  }
})();
