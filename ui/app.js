// app.js: miniconsul's web UI, a single-page app on the public HTTP API
// only (no framework, no build step). Its routes are Consul UI's paths:
// /ui/<dc>/services[/<name>], /ui/<dc>/nodes[/<node>], /ui/<dc>/kv/<prefix>/
// (a folder) and /ui/<dc>/kv/<key>/edit, /ui/<dc>/intentions,
// /ui/<dc>/acls/tokens[/<accessor>], /ui/settings; the agent serves
// index.html for each of them (http_ui.go).
//
// Data flow: route() reads location.pathname and builds the page: a static
// part (headings, forms) and live regions, each kept fresh by live(): a
// loop of blocking queries (?index=<last X-Consul-Index>&wait=), Consul's
// change-notification protocol, re-rendering when an answer's index moves
// (and starting again from 0 when it goes back, as Consul's clients do).
// Every request carries the token kept in localStorage (the settings page)
// as X-Consul-Token and the chosen ?dc=; an API error is shown in the
// alert region as its method, path, status and body.
//
// Concurrency: one page at a time; leaving it aborts its AbortController,
// which ends its blocking queries and loops. The DOM is built with
// textContent only, never innerHTML: keys, values and outputs are data.
'use strict';

const TOKEN_KEY = 'miniconsul:token';
const BLOCKING_WAIT = '60s';
const ui = {dc: '', dcs: [], page: new AbortController(), errorOwner: null};

// h builds an element: attributes (on* become listeners) and children.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// APIError is a non-2xx answer: what was asked and what the agent said.
class APIError extends Error {
  constructor(method, path, resp, body, index) {
    super(`${method} ${path} → ${resp.status} ${resp.statusText}${body ? ': ' + body.trim() : ''}`);
    this.status = resp.status;
    this.index = index;
  }
}

// api sends one request to the local agent; index makes it a blocking query.
async function api(method, path, {params = {}, body, index, signal} = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  if (ui.dc) url.searchParams.set('dc', ui.dc);
  if (index) {
    url.searchParams.set('index', index);
    url.searchParams.set('wait', BLOCKING_WAIT);
  }
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers['X-Consul-Token'] = token;
  const resp = await fetch(url, {method, headers, body, signal, cache: 'no-store'});
  const text = await resp.text();
  const newIndex = Number(resp.headers.get('X-Consul-Index')) || 0;
  if (!resp.ok) throw new APIError(method, url.pathname + url.search, resp, text, newIndex);
  const json = (resp.headers.get('Content-Type') || '').startsWith('application/json');
  return {data: json ? JSON.parse(text) : text, index: newIndex};
}

function showError(err, owner) {
  const box = document.getElementById('error');
  box.textContent = err instanceof APIError ? err.message : `Request failed: ${err.message}`;
  box.hidden = false;
  ui.errorOwner = owner;
}

function clearError(owner) {
  if (owner !== undefined && owner !== ui.errorOwner) return;
  const box = document.getElementById('error');
  box.hidden = true;
  box.textContent = '';
}

// act runs a user's action, showing its error.
async function act(fn) {
  try {
    clearError();
    await fn();
  } catch (err) {
    showError(err, 'action');
  }
}

const sleep = (ms, signal) => new Promise(resolve => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
});

// live keeps sources ({path, params, missing}) fresh with blocking queries
// and calls render with all their data once each has answered, and again
// whenever one changes. A 404 gives a source its `missing` value if it has
// one. Errors are shown and retried with backoff until the page is left.
function live(signal, sources, render) {
  const data = sources.map(() => undefined);
  sources.forEach(async (src, i) => {
    let index = 0;
    let backoff = 1000;
    while (!signal.aborted) {
      let r;
      try {
        r = await api('GET', src.path, {params: src.params, index, signal});
      } catch (err) {
        if (signal.aborted) return;
        if (err.status === 404 && 'missing' in src) {
          r = {data: src.missing, index: err.index};
        } else {
          showError(err, src);
          await sleep(backoff, signal);
          backoff = Math.min(backoff * 2, 30000);
          continue;
        }
      }
      clearError(src);
      backoff = 1000;
      const changed = data[i] === undefined || r.index !== index;
      index = r.index < index ? 0 : r.index;
      if (!changed) continue;
      data[i] = r.data;
      if (data.every(d => d !== undefined)) render(...data);
    }
  });
}

// Paths: a KV key's segments are encoded one by one, its slashes kept.
const enc = s => s.split('/').map(encodeURIComponent).join('/');
const dcPath = rest => `/ui/${encodeURIComponent(ui.dc)}/${rest}`;
const link = (href, text) => h('a', {href}, text);

function navigate(href) {
  history.pushState(null, '', href);
  route();
  document.getElementById('main').focus();
}

// A health summary: how many checks pass, warn and fail.
function health(checks) {
  if (checks.length === 0) return h('span', {class: 'muted'}, 'no checks');
  const counts = {passing: 0, warning: 0, critical: 0};
  for (const c of checks) counts[c.Status in counts ? c.Status : 'critical']++;
  return Object.entries(counts).filter(([, n]) => n > 0)
    .map(([status, n]) => h('span', {class: `status ${status}`}, `${n} ${status} `));
}

const tags = list => (list || []).map(t => h('span', {class: 'tag'}, t));

function table(headings, rows, empty) {
  if (rows.length === 0) return h('p', {class: 'muted'}, empty);
  return h('table', {}, h('thead', {}, h('tr', {}, headings.map(t => h('th', {scope: 'col'}, t)))),
    h('tbody', {}, rows));
}

function definitions(pairs) {
  return h('dl', {}, pairs.filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

const meta = m => Object.entries(m || {}).map(([k, v]) => h('span', {class: 'tag'}, `${k}=${v}`));

function checksTable(checks) {
  return table(['Check', 'Status', 'Output'], checks.map(c => h('tr', {},
    h('td', {}, c.Name, h('div', {class: 'muted'}, c.ServiceID ? `${c.CheckID} (service ${c.ServiceID})` : `${c.CheckID} (node)`)),
    h('td', {}, h('span', {class: `status ${c.Status}`}, c.Status)),
    h('td', {}, c.Notes ? h('div', {}, c.Notes) : null, c.Output ? h('pre', {}, c.Output) : null))), 'No checks.');
}

// Pages: each gets the page's signal and its main element.

function servicesPage(signal, main) {
  const region = h('div');
  main.replaceChildren(h('h1', {}, 'Services'), region);
  live(signal, [{path: '/v1/catalog/services'}, {path: '/v1/health/state/any'}], (services, checks) => {
    region.replaceChildren(table(['Service', 'Service checks', 'Tags'],
      Object.keys(services).sort().map(name => h('tr', {},
        h('td', {}, link(dcPath(`services/${encodeURIComponent(name)}`), name)),
        h('td', {}, health(checks.filter(c => c.ServiceName === name))),
        h('td', {}, tags(services[name])))), 'No services.'));
  });
}

function servicePage(signal, main, name) {
  const region = h('div');
  main.replaceChildren(h('p', {class: 'breadcrumbs'}, link(dcPath('services'), 'Services')), h('h1', {}, name), region);
  live(signal, [{path: `/v1/health/service/${encodeURIComponent(name)}`}], instances => {
    region.replaceChildren(...(instances.length === 0 ? [h('p', {class: 'muted'}, 'No instances.')] : instances.map(({Node, Service, Checks}) => h('section', {},
      h('h2', {}, `${Service.ID} on `, link(dcPath(`nodes/${encodeURIComponent(Node.Node)}`), Node.Node), ' ', health(Checks)),
      definitions([['Address', `${Service.Address || Node.Address}:${Service.Port}`], ['Tags', tags(Service.Tags)],
        ['Meta', meta(Service.Meta)]]),
      checksTable(Checks)))));
  });
}

function nodesPage(signal, main) {
  const region = h('div');
  main.replaceChildren(h('h1', {}, 'Nodes'), region);
  live(signal, [{path: '/v1/catalog/nodes'}, {path: '/v1/health/state/any'}], (nodes, checks) => {
    region.replaceChildren(table(['Node', 'Address', 'Health checks', 'Meta'], nodes.map(n => h('tr', {},
      h('td', {}, link(dcPath(`nodes/${encodeURIComponent(n.Node)}`), n.Node)),
      h('td', {}, n.Address),
      h('td', {}, health(checks.filter(c => c.Node === n.Node))),
      h('td', {}, meta(n.Meta)))), 'No nodes.'));
  });
}

function nodePage(signal, main, name) {
  const region = h('div');
  main.replaceChildren(h('p', {class: 'breadcrumbs'}, link(dcPath('nodes'), 'Nodes')), h('h1', {}, name), region);
  const path = encodeURIComponent(name);
  live(signal, [{path: `/v1/catalog/node/${path}`, missing: null}, {path: `/v1/health/node/${path}`}], (node, checks) => {
    if (!node) {
      region.replaceChildren(h('p', {}, 'This node is not in the catalog.'));
      return;
    }
    const n = node.Node;
    const services = Object.values(node.Services || {}).sort((a, b) => a.ID.localeCompare(b.ID));
    region.replaceChildren(
      definitions([['Address', n.Address], ['ID', n.ID], ['Datacenter', n.Datacenter],
        ['Tagged addresses', meta(n.TaggedAddresses)], ['Meta', meta(n.Meta)]]),
      h('h2', {}, 'Health checks'), checksTable(checks),
      h('h2', {}, 'Services'),
      table(['Service', 'ID', 'Port', 'Tags'], services.map(s => h('tr', {},
        h('td', {}, link(dcPath(`services/${encodeURIComponent(s.Service)}`), s.Service)),
        h('td', {}, s.ID), h('td', {}, s.Port), h('td', {}, tags(s.Tags)))), 'No services.'));
  });
}

// KV values: bytes shown as UTF-8 text when they are, else base64.
const b64ToBytes = b64 => Uint8Array.from(atob(b64 || ''), c => c.charCodeAt(0));
const bytesToB64 = bytes => btoa(Array.from(bytes, b => String.fromCharCode(b)).join(''));
function bytesToText(bytes) {
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes);
  } catch {
    return null;
  }
}

// valueEditor is a textarea with a Text/Base64 choice; bytes() reads it.
function valueEditor(id) {
  const area = h('textarea', {id, name: 'value', spellcheck: 'false'});
  const mode = h('select', {'aria-label': 'Value encoding'}, h('option', {value: 'text'}, 'Text'), h('option', {value: 'base64'}, 'Base64'));
  let shown = 'text';
  const ed = {
    bytes() {
      if (mode.value === 'text') return new TextEncoder().encode(area.value);
      try {
        return b64ToBytes(area.value.replace(/\s+/g, ''));
      } catch {
        throw new Error('The value is not valid base64.');
      }
    },
    set(bytes) {
      const text = bytesToText(bytes);
      mode.value = text === null ? 'base64' : mode.value;
      area.value = mode.value === 'text' ? text : bytesToB64(bytes);
      shown = mode.value;
    },
    element: h('div', {class: 'row'}, h('label', {for: id}, 'Value'), mode),
    area,
  };
  mode.addEventListener('change', () => {
    const next = mode.value;
    mode.value = shown;
    act(async () => {
      const bytes = ed.bytes();
      if (next === 'text' && bytesToText(bytes) === null) throw new Error('The value is not UTF-8 text: keep it as base64.');
      mode.value = next;
      ed.set(bytes);
    });
  });
  return ed;
}

function kvCrumbs(key) {
  const parts = key.split('/').slice(0, -1);
  return h('p', {class: 'breadcrumbs'}, link(dcPath('kv/'), 'Key/Value'),
    parts.map((p, i) => [' / ', link(dcPath(`kv/${enc(parts.slice(0, i + 1).join('/'))}/`), p)]));
}

function kvFolderPage(signal, main, prefix) {
  const region = h('div');
  const name = h('input', {id: 'kv-key', name: 'key', required: true, autocomplete: 'off'});
  const ed = valueEditor('kv-value');
  const form = h('form', {'aria-label': 'Create a key', onsubmit: e => {
    e.preventDefault();
    act(async () => {
      const key = prefix + name.value;
      const folder = key.endsWith('/');
      const r = await api('PUT', `/v1/kv/${enc(key)}`, {params: {cas: '0'}, body: folder ? '' : ed.bytes()});
      if (r.data !== true) throw new Error(`${key} already exists.`);
      navigate(dcPath(`kv/${enc(key)}${folder ? '' : '/edit'}`));
    });
  }},
  h('label', {class: 'block', for: 'kv-key'}, `Key or folder (ending in /) under ${prefix || 'the root'}`), name,
  ed.element, ed.area, h('div', {}, h('button', {type: 'submit'}, 'Create')));
  main.replaceChildren(kvCrumbs(prefix), h('h1', {}, prefix || 'Key/Value'), region, h('h2', {}, 'Create'), form);
  live(signal, [{path: `/v1/kv/${enc(prefix)}`, params: {keys: '', separator: '/'}, missing: []}], keys => {
    const rows = keys.filter(k => k !== prefix).map(k => {
      const rel = k.slice(prefix.length);
      const folder = k.endsWith('/');
      return h('tr', {}, h('td', {}, link(dcPath(`kv/${enc(k)}${folder ? '' : '/edit'}`), rel)),
        h('td', {class: 'muted'}, folder ? 'folder' : 'key'));
    });
    region.replaceChildren(table(['Name', 'Kind'], rows, 'No keys here.'));
  });
}

function kvKeyPage(signal, main, key) {
  const region = h('div');
  const ed = valueEditor('kv-value');
  let loaded = null; // the entry the form shows, whose ModifyIndex a save checks
  let dirty = false;
  ed.area.addEventListener('input', () => { dirty = true; });
  const del = h('button', {type: 'button', class: 'danger', onclick: () => act(async () => {
    if (del.textContent === 'Delete') {
      del.textContent = 'Confirm delete';
      return;
    }
    await api('DELETE', `/v1/kv/${enc(key)}`, {params: {cas: String(loaded.ModifyIndex)}});
    navigate(dcPath(`kv/${enc(key.slice(0, key.lastIndexOf('/') + 1))}`));
  })}, 'Delete');
  const form = h('form', {'aria-label': 'Edit the value', onsubmit: e => {
    e.preventDefault();
    act(async () => {
      const r = await api('PUT', `/v1/kv/${enc(key)}`, {params: {cas: String(loaded.ModifyIndex)}, body: ed.bytes()});
      if (r.data !== true) throw new Error('The key changed since it was loaded: reload the page to see it.');
      dirty = false;
    });
  }}, ed.element, ed.area, h('div', {class: 'row'}, h('button', {type: 'submit'}, 'Save'), del));
  main.replaceChildren(kvCrumbs(key), h('h1', {}, key.slice(key.lastIndexOf('/') + 1)), region);
  live(signal, [{path: `/v1/kv/${enc(key)}`, missing: null}], entries => {
    const e = entries && entries[0];
    if (!e) {
      region.replaceChildren(h('p', {}, 'This key does not exist (any more).'));
      form.remove();
      return;
    }
    if (!dirty) {
      loaded = e;
      ed.set(b64ToBytes(e.Value));
    }
    region.replaceChildren(definitions([['Key', e.Key], ['Create index', e.CreateIndex], ['Modify index', e.ModifyIndex],
      ['Lock index', e.LockIndex], ['Flags', e.Flags], ['Session', e.Session], ['Size', `${b64ToBytes(e.Value).length} bytes`]]),
    ...(dirty && e.ModifyIndex !== loaded.ModifyIndex ? [h('p', {class: 'warning'}, 'The key has changed since you began editing it.')] : []));
    if (!form.isConnected) main.append(form);
  });
}

function intentionsPage(signal, main) {
  const region = h('div');
  const field = (id, label, input) => [h('label', {class: 'block', for: id}, label), input];
  const src = h('input', {id: 'int-source', required: true}), dst = h('input', {id: 'int-destination', required: true});
  const action = h('select', {id: 'int-action'}, h('option', {value: 'allow'}, 'allow'), h('option', {value: 'deny'}, 'deny'));
  const desc = h('input', {id: 'int-description'});
  const form = h('form', {'aria-label': 'Create an intention', onsubmit: e => {
    e.preventDefault();
    act(async () => {
      await api('PUT', '/v1/connect/intentions/exact', {params: {source: src.value, destination: dst.value},
        body: JSON.stringify({Action: action.value, Description: desc.value})});
      form.reset();
    });
  }}, field('int-source', 'Source service', src), field('int-destination', 'Destination service', dst),
  field('int-action', 'Action', action), field('int-description', 'Description', desc),
  h('div', {}, h('button', {type: 'submit'}, 'Create')));
  main.replaceChildren(h('h1', {}, 'Intentions'), region, h('h2', {}, 'Create'), form);
  live(signal, [{path: '/v1/connect/intentions'}], list => {
    region.replaceChildren(table(['Source', '', 'Destination', 'Precedence', 'Description', ''], list.map(i => h('tr', {},
      h('td', {}, i.SourceName), h('td', {class: i.Action === 'allow' ? 'passing' : 'critical'}, `→ ${i.Action}`),
      h('td', {}, i.DestinationName), h('td', {}, i.Precedence), h('td', {}, i.Description),
      h('td', {}, h('button', {type: 'button', class: 'danger', 'aria-label': `Delete ${i.SourceName} → ${i.DestinationName}`,
        onclick: () => act(() => api('DELETE', '/v1/connect/intentions/exact', {params: {source: i.SourceName, destination: i.DestinationName}}))},
      'Delete')))), 'No intentions.'));
  });
}

const names = list => (list || []).map(x => h('span', {class: 'tag'}, x.Name || x.ServiceName || x.ID));

function tokensPage(signal, main) {
  const region = h('div');
  main.replaceChildren(h('h1', {}, 'ACL tokens'), region);
  live(signal, [{path: '/v1/acl/tokens'}], tokens => {
    region.replaceChildren(table(['Accessor ID', 'Description', 'Policies and roles', 'Scope'], tokens.map(t => h('tr', {},
      h('td', {}, link(dcPath(`acls/tokens/${encodeURIComponent(t.AccessorID)}`), h('code', {}, t.AccessorID))),
      h('td', {}, t.Description), h('td', {}, names(t.Policies), names(t.Roles), names(t.ServiceIdentities)),
      h('td', {}, t.Local ? 'local' : 'global'))), 'No tokens.'));
  });
}

function tokenPage(signal, main, id) {
  const region = h('div');
  main.replaceChildren(h('p', {class: 'breadcrumbs'}, link(dcPath('acls/tokens'), 'ACL tokens')), h('h1', {}, 'Token'), region);
  live(signal, [{path: `/v1/acl/token/${encodeURIComponent(id)}`}], t => {
    region.replaceChildren(definitions([['Accessor ID', h('code', {}, t.AccessorID)],
      ['Secret ID', h('details', {}, h('summary', {}, 'Show'), h('code', {}, t.SecretID))],
      ['Description', t.Description], ['Policies', names(t.Policies)], ['Roles', names(t.Roles)],
      ['Service identities', names(t.ServiceIdentities)], ['Node identities', names(t.NodeIdentities)],
      ['Scope', t.Local ? 'local' : 'global'], ['Created', t.CreateTime], ['Expires', t.ExpirationTime],
      ['Create index', t.CreateIndex], ['Modify index', t.ModifyIndex]]));
  });
}

function settingsPage(signal, main) {
  const input = h('input', {id: 'token', type: 'password', autocomplete: 'off', value: localStorage.getItem(TOKEN_KEY) || ''});
  const status = h('p', {role: 'status'});
  const save = value => {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
    input.value = value;
    status.textContent = value ? 'Token saved: every request now sends it as X-Consul-Token.' : 'Token cleared: requests use the agent\'s default token.';
  };
  main.replaceChildren(h('h1', {}, 'Settings'),
    h('form', {'aria-label': 'ACL token', onsubmit: e => { e.preventDefault(); save(input.value.trim()); }},
      h('label', {class: 'block', for: 'token'}, 'ACL token (SecretID), kept in this browser only'), input,
      h('div', {class: 'row'}, h('button', {type: 'submit'}, 'Save'), h('button', {type: 'button', onclick: () => save('')}, 'Clear'))),
    status);
}

// decode is decodeURIComponent, leaving a malformed escape as it is.
function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// route builds the page of location.pathname.
function route() {
  ui.page.abort();
  ui.page = new AbortController();
  clearError();
  const main = document.getElementById('main');
  const parts = location.pathname.replace(/^\/ui\/?/, '').split('/');
  const seg = parts.map(decode);
  let section = seg[1] || '';
  if (seg[0] === 'settings') {
    section = 'settings';
  } else if (ui.dcs.includes(seg[0]) && section !== '') {
    ui.dc = seg[0];
  } else if (ui.dc && (seg[0] === '' || ui.dcs.includes(seg[0]))) {
    history.replaceState(null, '', `/ui/${encodeURIComponent(seg[0] || ui.dc)}/services`);
    return route();
  } else {
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, ui.dcs.length ? `No datacenter or page ${seg[0]}.` : 'The datacenters could not be read.'));
    return;
  }
  document.getElementById('dc').value = ui.dc;
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    a.href = dcPath(a.dataset.page);
    a.toggleAttribute('aria-current', false);
    if (a.dataset.page === section || a.dataset.page === `${section}/${seg[2]}`) a.setAttribute('aria-current', 'page');
  }
  const signal = ui.page.signal;
  const rest = seg.slice(2);
  let title = section;
  switch (section) {
    case 'settings': settingsPage(signal, main); title = 'Settings'; break;
    case 'services': rest[0] ? servicePage(signal, main, title = rest[0]) : servicesPage(signal, main); break;
    case 'nodes': rest[0] ? nodePage(signal, main, title = rest[0]) : nodesPage(signal, main); break;
    case 'kv':
      if (rest.length > 1 && rest[rest.length - 1] === 'edit') kvKeyPage(signal, main, title = rest.slice(0, -1).join('/'));
      else kvFolderPage(signal, main, title = rest.join('/'));
      break;
    case 'intentions': intentionsPage(signal, main); break;
    case 'acls':
      if (rest[0] === 'tokens' && rest[1]) tokenPage(signal, main, title = rest[1]);
      else tokensPage(signal, main);
      break;
    default:
      main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'There is no such page.'));
  }
  document.title = `${title || 'Key/Value'} · ${ui.dc} · miniconsul`;
}

// A click on a link to one of the app's own pages changes the page
// without a reload; other links (the cluster view) load as usual.
document.addEventListener('click', e => {
  const a = e.target.closest('a[href]');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  const first = decode(url.pathname.split('/')[2] || '');
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/') || !(first === 'settings' || ui.dcs.includes(first))) return;
  e.preventDefault();
  navigate(url.pathname);
});
window.addEventListener('popstate', route);

async function start() {
  const select = document.getElementById('dc');
  select.addEventListener('change', () => {
    ui.dc = select.value;
    navigate(dcPath('services'));
  });
  try {
    const r = await api('GET', '/v1/catalog/datacenters');
    ui.dcs = r.data;
  } catch (err) {
    showError(err, 'start');
  }
  ui.dc = ui.dcs[0] || '';
  select.replaceChildren(...ui.dcs.map(dc => h('option', {value: dc}, dc)));
  route();
}

start();
