// SPDX-License-Identifier: MIT
// jobd's web page: plugins, one's own jobs with live progress, a form to
// run a plugin. Plain browser JavaScript, no library, no build step; it
// talks only to the server that served it (docs/http.md).
'use strict';

const TOKEN_KEY = 'jobd-token';
const PLUGINS_EVERY_MS = 5000;
const JOBS_EVERY_MS = 15000;
const PREVIEW_CHARS = 4000;
const FINAL_STATES = ['done', 'failed', 'cancelled', 'interrupted'];

const $ = (id) => document.getElementById(id);
// Jobs whose event stream is open: job id -> AbortController.
const following = new Map();

// ---- talking to jobd ------------------------------------------------------

// The token lives in sessionStorage: this tab only, gone when it closes.
function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function headers(extra) {
  const h = Object.assign({}, extra);
  if (token()) h.Authorization = 'Bearer ' + token();
  return h;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : 'HTTP ' + status);
    this.status = status;
    this.code = body && body.code ? body.code : 'internal';
  }
}

// One JSON request; resolves to {status, body, location}, throws ApiError
// on an error status.
async function api(method, path, body) {
  const init = { method, headers: headers({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = body;
  }
  const res = await fetch(path, init);
  let json = null;
  try {
    json = await res.json();
  } catch (e) {
    json = null; // an answer without a JSON body (e.g. a proxy's page)
  }
  if (!res.ok) {
    if (res.status === 401) askForToken();
    throw new ApiError(res.status, json);
  }
  return { status: res.status, body: json, location: res.headers.get('Location') };
}

// Reads GET /v1/jobs/{id}/events with fetch() instead of EventSource,
// because EventSource cannot send the Authorization header and a token in
// the URL would end up in logs and history. Parses text/event-stream and
// resumes with Last-Event-ID after a dropped connection. Answers the
// ApiError that stopped it (the token, or the job is gone), else nothing.
async function followEvents(id, onEvent, signal) {
  let lastId = null;
  let retryMs = 2000;
  for (let tries = 0; tries < 30 && !signal.aborted; tries++) {
    const h = headers({ Accept: 'text/event-stream' });
    if (lastId !== null) h['Last-Event-ID'] = lastId;
    try {
      const res = await fetch('/v1/jobs/' + id + '/events', { headers: h, signal });
      if (!res.ok) {
        let body = null;
        try { body = await res.json(); } catch (e) { body = null; }
        throw new ApiError(res.status, body);
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let ev = { event: 'message', data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (ev.data.length) {
              const final = onEvent(ev.event, JSON.parse(ev.data.join('\n')));
              if (final) return;
            }
            ev = { event: 'message', data: [] };
            continue;
          }
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') ev.event = val;
          else if (field === 'data') ev.data.push(val);
          else if (field === 'id') lastId = val;
          else if (field === 'retry' && /^\d+$/.test(val)) retryMs = Number(val);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status < 500) return e;
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

// ---- messages -------------------------------------------------------------

function notice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = !text;
}

function askForToken() {
  notice('The server wants a valid token: paste yours above and press "Use token".');
  $('token').focus();
}

function errorText(e) {
  return e instanceof ApiError ? e.code + ': ' + e.message : String(e.message || e);
}

// Saves a JSON value or a Blob as a file through a temporary link.
function saveFile(name, data) {
  const blob = data instanceof Blob ? data
    : new Blob([JSON.stringify(data, null, 2) + '\n'], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- server health and plugins --------------------------------------------

async function showHealth() {
  const el = $('health');
  try {
    const res = await fetch('/v1/health/ready');
    const body = await res.json();
    el.textContent = res.ok ? 'server ready' : 'server not ready: ' + body.status;
    el.className = 'health ' + (res.ok ? 'ok' : 'bad');
  } catch (e) {
    el.textContent = 'server unreachable';
    el.className = 'health bad';
  }
}

async function showPlugins() {
  let plugins;
  try {
    plugins = (await api('GET', '/v1/plugins')).body.plugins;
  } catch (e) {
    if (e.status !== 401) notice('Plugins: ' + errorText(e));
    return;
  }
  const tbody = $('plugins').tBodies[0];
  tbody.replaceChildren();
  for (const p of plugins) {
    const row = tbody.insertRow();
    const quarantined = p.state === 'quarantined';
    const cells = [
      ['Plugin', p.name + ' ' + p.version],
      ['State', quarantined
        ? 'quarantined' + (p.quarantined_until ? ' until ' + time(p.quarantined_until) : '')
        : p.state],
      ['Workers busy', p.running + ' of ' + p.workers + (p.restarts ? ', ' + p.restarts + ' restarts' : '')],
      ['Queue', p.queued + ' of ' + p.queue_bound],
      ['Done / failed', (p.done || 0) + ' / ' + (p.failed || 0)],
    ];
    for (const [label, text] of cells) {
      const td = row.insertCell();
      td.dataset.label = label;
      td.textContent = text;
    }
    row.cells[0].title = p.description || '';
    row.cells[1].className = quarantined ? 'state failed' : 'state ok';
  }
  const select = $('run-plugin');
  const chosen = select.value;
  const names = plugins.map((p) => p.name);
  if (names.join() !== [...select.options].map((o) => o.value).join()) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    select.value = names.includes(chosen) ? chosen : (names.includes('sleep') ? 'sleep' : names[0] || '');
  }
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '';
}

// ---- jobs -----------------------------------------------------------------

function jobCard(id) {
  let li = document.querySelector('.job[data-job="' + id + '"]');
  if (li) return li;
  li = $('job-template').content.firstElementChild.cloneNode(true);
  li.dataset.job = id;
  li.querySelector('.job-id').textContent = id;
  li.querySelector('progress').setAttribute('aria-label', 'Progress of job ' + id);
  li.querySelector('.job-cancel').addEventListener('click', () => cancelJob(id));
  li.querySelector('.job-result').addEventListener('click', () => fetchResult(id, true));
  $('jobs').prepend(li);
  $('jobs-empty').hidden = true;
  return li;
}

function showJob(job) {
  const li = jobCard(job.job);
  const final = FINAL_STATES.includes(job.state);
  // A job never leaves a final state: an answer sent before it ended (a
  // cancel's, while the plugin was stopping) can arrive after the event
  // stream's final event, and must not bring back "running".
  if (!final && FINAL_STATES.includes(li.dataset.state)) return;
  li.querySelector('.job-plugin').textContent = job.plugin;
  // An admin sees everyone's jobs: say whose.
  if (job.user) li.querySelector('.job-user').textContent = 'by ' + job.user;
  showState(li, job.state, job.cancel_requested && !final);
  let fraction = job.progress ? job.progress.fraction : 0;
  if (job.state === 'done') fraction = 1;
  showProgress(li, fraction, job.progress && job.progress.message);
  if (job.error) li.querySelector('.job-message').textContent = job.error.code + ': ' + job.error.message;
  else if (!(job.progress && job.progress.message)) {
    li.querySelector('.job-message').textContent =
      job.state === 'queued' ? 'queued at ' + time(job.queued_at) : '';
  }
  li.querySelector('.job-cancel').hidden = final;
  li.querySelector('.job-result').hidden = job.state !== 'done';
  if (!final) follow(job.job);
}

function showState(li, state, cancelling) {
  li.dataset.state = state;
  const el = li.querySelector('.state');
  el.textContent = state + (cancelling ? ' (cancelling)' : '');
  el.className = 'state ' + state;
}

function showProgress(li, fraction, message) {
  const bar = li.querySelector('progress');
  // Progress may be merged or dropped but never goes back.
  const value = Math.max(Number(bar.value) || 0, Math.min(1, Math.max(0, fraction)));
  bar.value = value;
  li.querySelector('.job-percent').textContent = Math.round(value * 100) + ' %';
  if (message) li.querySelector('.job-message').textContent = message;
}

function follow(id) {
  if (following.has(id)) return;
  const ctl = new AbortController();
  following.set(id, ctl);
  const li = jobCard(id);
  followEvents(id, (event, data) => {
    if (event === 'status') showJob(data);
    else if (event === 'progress') {
      // The stream sends the state once; progress means it started.
      if (li.dataset.state === 'queued') showState(li, 'running', false);
      showProgress(li, data.fraction, data.message);
    }
    else if (event === 'result') {
      showJob({ job: id, plugin: li.querySelector('.job-plugin').textContent, state: 'done' });
      showOutput(li, data);
      return true;
    } else if (event === 'error') {
      showJob({ job: id, plugin: li.querySelector('.job-plugin').textContent,
        state: data.state || 'failed', error: { code: data.code, message: data.message } });
      return true;
    }
    return false;
  }, ctl.signal).then((e) => {
    // Not the job's failure: this page could not follow it.
    if (e) li.querySelector('.job-message').textContent = 'cannot follow: ' + errorText(e);
  }).finally(() => {
    if (following.get(id) === ctl) following.delete(id);
    showPlugins();
  });
}

function showOutput(li, result) {
  const details = li.querySelector('.job-output');
  const text = JSON.stringify(result.output, null, 2);
  details.querySelector('pre').textContent = text.length > PREVIEW_CHARS
    ? text.slice(0, PREVIEW_CHARS) + '\n… (download the result for all of it)' : text;
  details.hidden = false;
  const arrays = li.querySelector('.job-arrays');
  arrays.replaceChildren();
  for (const [name, a] of Object.entries(result.arrays || {})) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'quiet';
    b.textContent = name + '.npy (' + a.dtype + ' ' + a.shape.join('×') + ')';
    b.addEventListener('click', () => downloadArray(a.href, name + '.npy'));
    arrays.append(b);
  }
}

async function showJobs() {
  try {
    const jobs = (await api('GET', '/v1/jobs?limit=50')).body.jobs;
    for (const job of jobs.slice().reverse()) showJob(job);
    $('jobs-empty').hidden = jobs.length > 0 || $('jobs').children.length > 0;
  } catch (e) {
    if (e.status !== 401) notice('Jobs: ' + errorText(e));
  }
}

async function cancelJob(id) {
  try {
    showJob((await api('POST', '/v1/jobs/' + id + '/cancel')).body);
  } catch (e) {
    notice('Cancel ' + id + ': ' + errorText(e));
  }
}

async function fetchResult(id, save) {
  try {
    const res = await api('GET', '/v1/jobs/' + id + '/result');
    if (res.status === 202) {
      notice('Job ' + id + ' has not finished yet.');
      return;
    }
    showOutput(jobCard(id), res.body);
    if (save) saveFile('job-' + id + '.json', res.body);
  } catch (e) {
    notice('Result of ' + id + ': ' + errorText(e));
  }
}

async function downloadArray(href, name) {
  try {
    const res = await fetch(href, { headers: headers() });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    saveFile(name, await res.blob());
  } catch (e) {
    notice(name + ': ' + errorText(e));
  }
}

// ---- the form -------------------------------------------------------------

function checkInput() {
  const input = $('run-input');
  const err = $('run-input-error');
  try {
    JSON.parse(input.value);
    input.removeAttribute('aria-invalid');
    err.textContent = '';
    return true;
  } catch (e) {
    input.setAttribute('aria-invalid', 'true');
    err.textContent = 'Not valid JSON: ' + e.message;
    return false;
  }
}

async function run(event) {
  event.preventDefault();
  notice('');
  const plugin = $('run-plugin').value;
  const timeout = $('run-timeout').value.trim();
  if (!checkInput()) {
    $('run-input').focus();
    return;
  }
  if (timeout && !/^[0-9]+(ms|s|m|h|d)?$/.test(timeout)) {
    notice('Timeout: a number with ms, s, m, h or d, e.g. 30s.');
    $('run-timeout').focus();
    return;
  }
  if (!plugin) {
    notice('No plugin to run: the server lists none for this token.');
    return;
  }
  const detach = $('run-detach').checked;
  const query = timeout ? '?timeout=' + encodeURIComponent(timeout) : '';
  const path = '/v1/plugins/' + encodeURIComponent(plugin) + (detach ? '/jobs' : '/call') + query;
  const button = $('run-submit');
  const out = $('call-result');
  button.disabled = true;
  try {
    if (detach) {
      const res = await api('POST', path, $('run-input').value);
      showJob({ job: res.body.job, plugin, state: 'queued' });
    } else {
      out.hidden = false;
      out.textContent = 'running ' + plugin + '…';
      const res = await api('POST', path, $('run-input').value);
      out.replaceChildren();
      const pre = document.createElement('pre');
      pre.textContent = JSON.stringify(res.body.output, null, 2);
      const save = document.createElement('button');
      save.type = 'button';
      save.textContent = 'Download result (JSON)';
      save.addEventListener('click', () => saveFile(plugin + '-result.json', res.body));
      out.append(pre, save);
    }
  } catch (e) {
    out.hidden = detach;
    out.textContent = '';
    notice(plugin + ': ' + errorText(e) +
      (e.code === 'busy' ? ' (try again in a moment)' : ''));
  } finally {
    button.disabled = false;
  }
}

// ---- start ----------------------------------------------------------------

function refreshAll() {
  showHealth();
  showPlugins();
  showJobs();
}

document.addEventListener('DOMContentLoaded', () => {
  $('token').value = token();
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    notice('');
    // Another token may be another user: forget the jobs shown so far.
    for (const ctl of following.values()) ctl.abort();
    following.clear();
    $('jobs').replaceChildren();
    refreshAll();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
  });
  $('run-form').addEventListener('submit', run);
  $('run-input').addEventListener('input', checkInput);
  $('jobs-refresh').addEventListener('click', showJobs);
  refreshAll();
  setInterval(showPlugins, PLUGINS_EVERY_MS);
  setInterval(() => { showHealth(); showJobs(); }, JOBS_EVERY_MS);
});
