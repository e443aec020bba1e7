/* routewise dashboard: the page's behaviour. Fetches /v1/dashboard/summary and
   /v1/dashboard/decisions (same origin, `Authorization: Bearer <key>` once a key is known),
   fills the panels of index.html, draws the charts with the vendored uPlot, pages the recent
   decisions and opens one decision whole in the side panel.
   Every piece of data enters the DOM through textContent or attributes, never innerHTML.
   Auto-refresh (every 10 s) re-fetches the summary; it re-fetches the first page of decisions
   only while the user has not clicked "Load more" (changing the range starts over), and it
   leaves an open decision panel as it is. body[data-state] is loading, ready, empty or error. */
(() => {
  'use strict';

  const KEY_STORAGE = 'routewise.dashboard.key';
  const REFRESH_MS = 10000;
  const PAGE_SIZE = 50;
  const CHART_HEIGHT = 240;
  const MAX_LINES = 8; // lines per mix chart; the rest are summed into "other"
  const PALETTE = ['#2f6fdb', '#e07b39', '#2a9d8f', '#c2417a', '#7b5ea7', '#8a9a2b', '#d4a017', '#4c8fb8'];
  const OTHER_COLOR = '#9aa4b2';
  const CALM_STATES = new Set(['ok', 'inactive', 'resolved']);
  const EMPTY_TEXT = 'No requests in this range yet. Send a chat completion through the gateway and it appears here.';
  const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

  const $ = (id) => document.getElementById(id);
  const state = {
    range: '24h',
    generation: 0, // bumps on every refresh; a stale answer is dropped
    inflight: false,
    paged: false, // the user has loaded more than the first page of decisions
    nextBefore: null,
    selected: null, // request id shown in the detail panel
    detailGeneration: 0,
    charts: {}, // element id -> {plot, signature}
    retryAfterKey: null,
    memoryKey: null, // the key when sessionStorage is unavailable
    shown: false, // a summary has been rendered (its data stays on a later error)
  };

  /* ---------- formatting ---------- */

  const intFormat = new Intl.NumberFormat('en-US');
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const raw = (v) => (v === null || v === undefined ? '' : String(v));
  const fmtInt = (v) => (isNum(v) ? intFormat.format(v) : '–');
  const fmtPct = (v) => (isNum(v) ? `${(v * 100).toFixed(1)}%` : '–');
  const fmtScore = (v) => (isNum(v) ? v.toFixed(2) : '–');
  const fmtNum = (v) => (isNum(v) ? Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 20 }) : '–');
  const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

  /** Dollars: cents above $1, at least 4 significant digits below ($0.0003512). */
  function fmtUsd(v) {
    if (!isNum(v)) return '–';
    const a = Math.abs(v);
    const n = a >= 1 ? a : Number(a.toPrecision(4));
    const text = n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: a >= 1 ? 2 : 20 });
    return `${v < 0 ? '-' : ''}$${text}`;
  }

  function fmtMs(v) {
    if (!isNum(v)) return '–';
    if (v >= 100) return `${fmtInt(Math.round(v))} ms`;
    return `${v.toFixed(v >= 10 ? 1 : 2)} ms`;
  }

  /** Local time; the date too when it is not today. */
  function fmtTime(ms) {
    if (!isNum(ms)) return '–';
    const d = new Date(ms);
    if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString();
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  const fmtMoment = (ms) => new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

  function fmtSpan(ms) {
    const minutes = ms / 60000;
    if (minutes < 60) return `${minutes}-minute`;
    return minutes % 1440 === 0 ? `${minutes / 1440}-day` : `${minutes / 60}-hour`;
  }

  function truncate(text, max) {
    return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
  }

  /* ---------- DOM helpers ---------- */

  /** An element with a class, text, title, data-* and other attributes (all as text). */
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    if (props.class) node.className = props.class;
    if (props.text !== undefined) node.textContent = props.text;
    if (props.title) node.title = props.title;
    for (const [k, v] of Object.entries(props.data || {})) node.dataset[k] = raw(v);
    for (const [k, v] of Object.entries(props.attrs || {})) node.setAttribute(k, v);
    node.append(...children);
    return node;
  }

  /** A table cell with its display text and its raw value in data-value. */
  const cell = (cls, text, value) => el('td', { class: cls, text, data: { value } });

  function setNumber(id, value, text) {
    const node = $(id);
    node.dataset.value = raw(value);
    node.textContent = text;
  }

  function swatch(color) {
    const node = el('span', { class: 'swatch' });
    node.style.background = color;
    return node;
  }

  /** A full-width row saying there is nothing to list. */
  function emptyRow(table, text) {
    const columns = table.tHead.rows[0].cells.length;
    return el('tr', { class: 'empty-row' }, [el('td', { class: 'empty', text, attrs: { colspan: String(columns) } })]);
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE); } catch (_) { return null; }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
    } catch (_) { /* storage off: the key lasts until the page reloads */ }
    state.memoryKey = key;
  }

  /** GET a JSON answer; a non-2xx answer throws its `error.message`. */
  async function api(path) {
    const headers = { Accept: 'application/json' };
    const key = storedKey() || state.memoryKey;
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(`Could not reach the gateway (${e.message}). The page tries again on the next refresh.`, 0, 'network');
    }
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const error = body && body.error;
      const message = error && error.message ? error.message : `The gateway answered HTTP ${response.status} without an error message.`;
      throw new ApiError(message, response.status, error && error.code);
    }
    if (body === null) throw new ApiError('The gateway answered with something that is not JSON.', response.status, 'bad_json');
    return body;
  }

  const rangeQuery = () => `range=${encodeURIComponent(state.range)}`;

  /* ---------- banner and key form ---------- */

  function showMessage(text, kind) {
    const node = $('message');
    node.textContent = text;
    node.className = kind;
    node.hidden = false;
  }

  function hideMessage() {
    const node = $('message');
    node.hidden = true;
    node.textContent = '';
    node.className = '';
  }

  /** Shows an API failure; a 401 asks for a key, then `retry` runs. */
  function handleError(error, retry) {
    const message = error instanceof ApiError ? error.message : `The page could not show the gateway's answer: ${error.message}`;
    showMessage(message, 'error');
    if (error instanceof ApiError && error.status === 401) {
      storeKey(null);
      state.retryAfterKey = retry;
      $('auth').hidden = false;
      $('auth-key').focus();
    }
  }

  function onKeySubmitted(event) {
    event.preventDefault();
    const key = $('auth-key').value.trim();
    if (!key) return;
    storeKey(key);
    $('auth-key').value = '';
    $('auth').hidden = true;
    hideMessage();
    const retry = state.retryAfterKey || refresh;
    state.retryAfterKey = null;
    retry();
  }

  /* ---------- refresh ---------- */

  async function refresh() {
    const generation = ++state.generation;
    state.inflight = true;
    document.body.dataset.state = 'loading';
    const wantDecisions = !state.paged;
    const [summary, decisions] = await Promise.allSettled([
      api(`/v1/dashboard/summary?${rangeQuery()}`),
      wantDecisions ? api(`/v1/dashboard/decisions?${rangeQuery()}&limit=${PAGE_SIZE}`) : Promise.resolve(null),
    ]);
    if (generation !== state.generation) return; // a newer refresh is on its way
    state.inflight = false;
    let failure = [summary, decisions].find((r) => r.status === 'rejected');
    failure = failure && failure.reason;
    try {
      if (summary.status === 'fulfilled') renderSummary(summary.value);
      if (decisions.status === 'fulfilled' && decisions.value) renderDecisions(decisions.value, false);
    } catch (e) {
      failure = failure || e;
    }
    if (failure) {
      if (!state.shown) ['chart-spend', 'chart-mix-model', 'chart-mix-reason'].forEach((id) => placeholder(id, 'Nothing to show yet.'));
      handleError(failure, refresh);
      document.body.dataset.state = 'error';
      return;
    }
    $('auth').hidden = true;
    const empty = summary.value.totals.requests === 0;
    if (empty) showMessage(EMPTY_TEXT, 'info'); else hideMessage();
    document.body.dataset.state = empty ? 'empty' : 'ready';
  }

  function autoRefresh() {
    if (!$('auto-refresh').checked || state.inflight || document.hidden || !$('auth').hidden) return;
    refresh();
  }

  /* ---------- summary panels ---------- */

  function renderSummary(s) {
    state.shown = true;
    $('store').textContent = s.store || 'none';
    const refreshed = $('refreshed');
    refreshed.textContent = new Date().toLocaleTimeString();
    if (isNum(s.generated_ms)) refreshed.title = `Computed by the gateway at ${new Date(s.generated_ms).toLocaleString()}`;
    const r = s.range || {};
    $('window').textContent = isNum(r.since_ms)
      ? `${fmtMoment(r.since_ms)} – ${fmtMoment(r.until_ms)}, ${fmtSpan(r.bucket_ms)} buckets`
      : '';
    renderTotals(s.totals);
    const empty = s.totals.requests === 0;
    renderCharts(s, empty);
    renderMixTable('mix-table', s.models || [], 'model', true);
    renderMixTable('reason-table', s.reasons || [], 'reason', false);
    renderQuality(s.quality || []);
    renderLatency(s.latency);
    renderAlerts(s.alerts || [], s.alerts_enabled);
    renderExperiments(s.experiments || []);
  }

  function renderTotals(t) {
    setNumber('total-requests', t.requests, fmtInt(t.requests));
    setNumber('total-cost', t.cost_usd, fmtUsd(t.cost_usd));
    setNumber('total-baseline', t.baseline_cost_usd, fmtUsd(t.baseline_cost_usd));
    setNumber('total-savings', t.savings_usd, fmtUsd(t.savings_usd));
    setNumber('total-savings-share', t.savings_share, fmtPct(t.savings_share));
    setNumber('total-cost-per-request', t.cost_per_request_usd, fmtUsd(t.cost_per_request_usd));
    setNumber('total-error-rate', t.error_rate, fmtPct(t.error_rate));
    setNumber('total-fallback-rate', t.fallback_rate, fmtPct(t.fallback_rate));
    $('note-requests').textContent = isNum(t.cache_hits) ? `${plural(t.cache_hits, 'cache hit')}` : '';
    $('note-errors').textContent = isNum(t.errors) ? plural(t.errors, 'error') : '';
    $('note-fallbacks').textContent = isNum(t.fallbacks) ? plural(t.fallbacks, 'fallback') : '';
  }

  /* ---------- charts ---------- */

  const colorAt = (i, total) => (total > MAX_LINES && i >= MAX_LINES - 1 ? OTHER_COLOR : PALETTE[i % PALETTE.length]);

  /** One line per item (model or reason), the items past MAX_LINES - 1 summed as "other". */
  function mixLines(items, name, buckets) {
    const shown = items.length > MAX_LINES ? items.slice(0, MAX_LINES - 1) : items;
    const lines = shown.map((it, i) => ({ label: it[name], color: colorAt(i, items.length), values: it.series || [] }));
    const rest = items.slice(shown.length);
    if (rest.length) {
      const values = Array.from({ length: buckets }, (_, b) => rest.reduce((sum, it) => sum + ((it.series || [])[b] || 0), 0));
      lines.push({ label: `other (${rest.length})`, color: OTHER_COLOR, values });
    }
    return lines;
  }

  function renderCharts(s, empty) {
    const series = s.series || [];
    if (empty || !series.length || typeof window.uPlot !== 'function') {
      const text = typeof window.uPlot !== 'function' ? 'Charts are unavailable: uPlot did not load.' : 'No requests to chart in this range yet.';
      ['chart-spend', 'chart-mix-model', 'chart-mix-reason'].forEach((id) => placeholder(id, text));
      return;
    }
    const xs = series.map((p) => p.start_ms / 1000);
    drawChart('chart-spend', xs, [
      { label: 'Spend', color: PALETTE[0], values: series.map((p) => p.cost_usd) },
      { label: 'Always-strongest baseline', color: OTHER_COLOR, dash: [6, 4], values: series.map((p) => p.baseline_cost_usd) },
    ], fmtUsd, false);
    drawChart('chart-mix-model', xs, mixLines(s.models || [], 'model', xs.length), fmtInt, true);
    drawChart('chart-mix-reason', xs, mixLines(s.reasons || [], 'reason', xs.length), fmtInt, true);
  }

  function placeholder(id, text) {
    destroyChart(id);
    $(id).replaceChildren(el('div', { class: 'placeholder', text }));
  }

  function destroyChart(id) {
    const entry = state.charts[id];
    if (entry) entry.plot.destroy();
    delete state.charts[id];
  }

  /** Draws (or updates in place, when the lines are the same) one time-series chart. */
  function drawChart(id, xs, lines, format, counts) {
    const box = $(id);
    const data = [xs, ...lines.map((l) => l.values)];
    const signature = lines.map((l) => l.label).join('\u0000');
    const entry = state.charts[id];
    if (entry && entry.signature === signature) {
      entry.plot.setData(data);
      return;
    }
    destroyChart(id);
    box.replaceChildren();
    const yAxis = { size: 76, values: (u, splits) => splits.map(format) };
    if (counts) yAxis.incrs = COUNT_INCRS;
    const options = {
      width: box.clientWidth || 600,
      height: CHART_HEIGHT,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, yAxis],
      series: [{}, ...lines.map((l) => ({
        label: l.label, stroke: l.color, width: 2, ...(l.dash ? { dash: l.dash } : {}),
        value: (u, v) => (v === null || v === undefined ? '–' : format(v)),
      }))],
    };
    state.charts[id] = { plot: new window.uPlot(options, data, box), signature };
  }

  function resizeCharts() {
    for (const [id, entry] of Object.entries(state.charts)) {
      const width = $(id).clientWidth;
      if (width && width !== entry.plot.width) entry.plot.setSize({ width, height: CHART_HEIGHT });
    }
  }

  /* ---------- tables ---------- */

  /** The mix table of models (data-model) or reasons (data-reason), one row per item. */
  function renderMixTable(tableId, items, name, withCost) {
    const table = $(tableId);
    const rows = items.map((it, i) => {
      const label = cell(name, it[name], it[name]);
      label.prepend(swatch(colorAt(i, items.length)));
      const cells = [label, cell('requests', fmtInt(it.requests), it.requests), cell('share', fmtPct(it.share), it.share)];
      if (withCost) {
        cells.push(cell('cost', fmtUsd(it.cost_usd), it.cost_usd),
          cell('cost-per-request', fmtUsd(it.cost_per_request_usd), it.cost_per_request_usd));
      }
      return el('tr', { data: { [name]: it[name] } }, cells);
    });
    table.tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(table, 'No requests in this range.')]));
  }

  /** The mean as a tick on a 0..1 track, its interval as a band. */
  function qualityBar(q) {
    const clamp = (v) => Math.min(1, Math.max(0, isNum(v) ? v : 0)) * 100;
    const band = el('div', { class: 'band' });
    band.style.left = `${clamp(q.low)}%`;
    band.style.width = `${Math.max(0, clamp(q.high) - clamp(q.low))}%`;
    const tick = el('div', { class: 'tick' });
    tick.style.left = `${clamp(q.mean)}%`;
    return el('div', { class: 'qbar', title: `mean ${fmtScore(q.mean)}, 95% interval ${fmtScore(q.low)} to ${fmtScore(q.high)}` }, [band, tick]);
  }

  function renderQuality(quality) {
    const table = $('quality-table');
    table.hidden = quality.length === 0;
    $('quality-empty').hidden = quality.length > 0;
    table.tBodies[0].replaceChildren(...quality.map((q) => el('tr', { data: { model: q.model } }, [
      cell('model', q.model, q.model),
      cell('ratings', fmtInt(q.ratings), q.ratings),
      cell('mean', fmtScore(q.mean), q.mean),
      cell('low', fmtScore(q.low), q.low),
      cell('high', fmtScore(q.high), q.high),
      el('td', { class: 'bar' }, [qualityBar(q)]),
    ])));
  }

  function renderLatency(latency) {
    const l = latency || {};
    const row = (metric, label, title, p) => el('tr', { data: { metric } }, [
      el('th', { text: label, title, attrs: { scope: 'row' } }),
      ...['p50', 'p95', 'p99'].map((k) => cell(k, fmtMs(p && p[k]), p && p[k])),
    ]);
    $('latency-table').tBodies[0].replaceChildren(
      row('latency_ms', 'End to end', 'From the request arriving to the answer finishing', l.latency_ms),
      row('overhead_ms', 'routewise overhead', 'Time spent in routewise itself, outside the upstream calls', l.overhead_ms),
    );
    let note = 'No requests to measure in this range.';
    if (l.sampled > 0 && l.sampled < l.of) note = `From the latest ${fmtInt(l.sampled)} of ${fmtInt(l.of)} requests in this range.`;
    else if (l.sampled > 0) note = `From all ${plural(l.sampled, 'request')} in this range.`;
    $('latency-note').textContent = note;
  }

  /* ---------- alerts and experiments ---------- */

  function alertCard(a) {
    const stateName = String(a.state);
    const facts = [];
    if (isNum(a.since_unix_ms) && a.since_unix_ms > 0) facts.push(`since ${fmtTime(a.since_unix_ms)}`);
    if (isNum(a.value)) facts.push(`value ${fmtNum(a.value)}`);
    if (isNum(a.baseline)) facts.push(`baseline ${fmtNum(a.baseline)}`);
    if (isNum(a.threshold)) facts.push(`threshold ${fmtNum(a.threshold)}`);
    return el('div', { class: `alert noteworthy ${stateName}` }, [
      el('div', {}, [el('span', { class: 'name', text: a.name }), el('span', { class: `badge ${stateName}`, text: stateName })]),
      el('p', { class: 'detail', text: [facts.join(', '), a.detail].filter(Boolean).join(': ') }),
      ...(a.runbook ? [el('p', { class: 'runbook', text: `What to do: ${a.runbook}` })] : []),
    ]);
  }

  function renderAlerts(alerts, enabled) {
    const loud = alerts.filter((a) => !CALM_STATES.has(String(a.state).toLowerCase()));
    const firing = loud.filter((a) => String(a.state).toLowerCase() === 'firing').length;
    const quiet = alerts.filter((a) => !loud.includes(a));
    const nodes = [el('p', {
      class: `alert-summary ${firing ? 'firing' : 'calm'}`,
      text: firing ? `${plural(firing, 'alert')} firing` : 'No alerts firing',
    })];
    nodes.push(...loud.map(alertCard));
    if (quiet.length) {
      nodes.push(el('div', { class: 'alerts-quiet' }, [
        el('span', { text: 'Watching: ' }),
        ...quiet.map((a) => el('span', { class: `badge ${String(a.state)}`, text: `${a.name}: ${a.state}`, title: a.detail || '' })),
      ]));
    }
    if (enabled === false) nodes.push(el('p', { class: 'note', text: 'Alerts are turned off in this gateway\'s configuration.' }));
    else if (!alerts.length) nodes.push(el('p', { class: 'note', text: 'No alerts are configured.' }));
    $('alerts').replaceChildren(...nodes);
  }

  /** A group's quality: a number, or {estimate, low, high}. */
  function fmtQuality(q) {
    if (isNum(q)) return fmtScore(q);
    if (q && isNum(q.estimate)) return `${fmtScore(q.estimate)} (${fmtScore(q.low)}–${fmtScore(q.high)})`;
    return '–';
  }

  function recommendationItem(r) {
    const verdict = String(r.verdict || 'unknown');
    let label = verdict.replace(/_/g, ' ');
    if (isNum(r.more_rated)) label += ` (about ${fmtInt(r.more_rated)} more ratings on each side)`;
    const who = r.reference ? `${r.candidate} against ${r.reference}` : r.candidate;
    return el('li', {}, [
      el('span', { text: `${who}: ` }),
      el('span', { class: `badge ${verdict}`, text: label }),
      el('span', { text: r.why || r.reason ? ` ${r.why || r.reason}` : '' }),
    ]);
  }

  function experimentBlock(x) {
    const groups = x.groups || x.arms || [];
    const head = el('thead', {}, [el('tr', {}, ['Arm', 'Requests', 'Cost / request', 'Strong share', 'Quality', 'Ratings']
      .map((h, i) => el('th', { class: i ? 'num' : '', text: h })))]);
    const rows = groups.map((g) => {
      const name = g.name || g.arm;
      const ratings = isNum(g.rated) ? g.rated : g.ratings;
      return el('tr', { data: { arm: name } }, [
        el('td', { class: 'model', text: g.kind && g.kind !== 'arm' ? `${name} (${g.kind})` : name }),
        cell('requests', fmtInt(g.requests), g.requests),
        cell('cost-per-request', fmtUsd(g.cost_per_request_usd), g.cost_per_request_usd),
        cell('share', fmtPct(g.strong_share), g.strong_share),
        el('td', { class: 'mean', text: fmtQuality(g.quality) }),
        cell('ratings', fmtInt(ratings), ratings),
      ]);
    });
    const recs = x.recommendations || [];
    const notes = x.notes || [];
    return el('div', { class: 'experiment', data: { experiment: x.name } }, [
      el('h3', { text: x.name }),
      el('p', { class: 'note', text: `${plural(x.records, 'record')} in this range` }),
      el('table', { class: 'arms' }, [head, el('tbody', {}, rows)]),
      el('ul', { class: 'recommendations' }, recs.length
        ? recs.map(recommendationItem)
        : [el('li', { class: 'empty', text: 'No recommendation yet.' })]),
      ...(notes.length ? [el('ul', { class: 'notes' }, notes.map((n) => el('li', { class: 'note', text: n })))] : []),
    ]);
  }

  function renderExperiments(experiments) {
    $('experiments').replaceChildren(...(experiments.length
      ? experiments.map(experimentBlock)
      : [el('p', { class: 'empty', text: 'No experiments configured' })]));
  }

  /* ---------- recent decisions ---------- */

  function decisionRow(d) {
    const explanation = d.explanation || '';
    const failed = !isNum(d.status) || d.status >= 400;
    const status = d.outcome && d.outcome !== 'ok' ? `${raw(d.status)} ${d.outcome}` : raw(d.status);
    const row = el('tr', { class: 'decision-row', data: { requestId: d.request_id }, attrs: { tabindex: '0' } }, [
      el('td', { class: 'time', text: fmtTime(d.created_ms), title: isNum(d.created_ms) ? new Date(d.created_ms).toString() : '' }),
      cell('model', d.model || '(none)', d.model),
      cell('reason', d.reason || '–', d.reason),
      el('td', { class: 'explanation', text: truncate(explanation, 80) || '–', title: explanation }),
      cell('cost', fmtUsd(d.cost_usd), d.cost_usd),
      cell('baseline', fmtUsd(d.baseline_cost_usd), d.baseline_cost_usd),
      cell('latency', fmtMs(d.latency_ms), d.latency_ms),
      el('td', { class: `status${failed ? ' bad' : ''}`, text: status, data: { value: d.status } }),
      cell('score', fmtScore(d.score), d.score),
    ]);
    row.classList.toggle('selected', d.request_id === state.selected);
    return row;
  }

  /** Shows a page of decisions: the first page replaces the rows, a further one appends. */
  function renderDecisions(page, append) {
    const body = $('decisions').tBodies[0];
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.requestId : null;
    const rows = (page.decisions || []).map(decisionRow);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    state.nextBefore = page.next_before || null;
    $('decisions-more').hidden = !state.nextBefore;
    $('decisions-empty').hidden = body.rows.length > 0;
    if (focused) {
      const again = [...body.rows].find((r) => r.dataset.requestId === focused);
      if (again) again.focus({ preventScroll: true });
    }
  }

  async function loadMore() {
    if (!state.nextBefore) return;
    const button = $('decisions-more');
    const range = state.range;
    button.disabled = true;
    try {
      const page = await api(`/v1/dashboard/decisions?${rangeQuery()}&limit=${PAGE_SIZE}&before=${encodeURIComponent(state.nextBefore)}`);
      if (range !== state.range) return;
      state.paged = true;
      renderDecisions(page, true);
    } catch (e) {
      handleError(e, loadMore);
    } finally {
      button.disabled = false;
    }
  }

  function rowFromEvent(event) {
    const row = event.target.closest('tr.decision-row');
    return row && row.dataset.requestId ? row : null;
  }

  /* ---------- decision detail ---------- */

  function facts(list, pairs) {
    list.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  }

  function signalText(v) {
    if (v === null || v === undefined) return '–';
    if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : '–';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  async function openDecision(id) {
    const generation = ++state.detailGeneration;
    state.selected = id;
    for (const row of $('decisions').tBodies[0].rows) row.classList.toggle('selected', row.dataset.requestId === id);
    $('decision-detail').hidden = false;
    $('decision-title').textContent = 'Decision';
    $('decision-explanation').textContent = '';
    facts($('decision-facts'), [['Request', id], ['', 'Loading…']]);
    ['decision-signals', 'decision-feedback', 'decision-record'].forEach((k) => $(k).replaceChildren());
    $('decision-attempts').tBodies[0].replaceChildren();
    try {
      const detail = await api(`/v1/dashboard/decisions/${encodeURIComponent(id)}`);
      if (generation === state.detailGeneration) renderDetail(detail);
    } catch (e) {
      if (generation !== state.detailGeneration) return;
      facts($('decision-facts'), [['Request', id], ['Error', e.message]]);
      handleError(e, () => openDecision(id));
    }
  }

  function renderDetail({ decision: d, record, feedback }) {
    const rec = record || {};
    const made = rec.decision || {};
    $('decision-title').textContent = `Decision ${d.request_id}`;
    facts($('decision-facts'), [
      ['Request id', d.request_id],
      ['Time', isNum(d.created_ms) ? new Date(d.created_ms).toLocaleString() : '–'],
      ['Model', `${d.model || '(none)'}${isNum(d.tier) ? ` (tier ${d.tier})` : ''}`],
      ['Route', d.route || '–'],
      ['Policy', d.policy || '–'],
      ['Reason', d.reason || '–'],
      ['Status', `${raw(d.status)} ${d.outcome || ''}${d.fallback ? ' (fallback)' : ''}`.trim()],
      ['Cost', fmtUsd(d.cost_usd)],
      ['Always-strongest', fmtUsd(d.baseline_cost_usd)],
      ['Latency', fmtMs(d.latency_ms)],
      ['Key', d.key_name || '–'],
      ['Feedback score', fmtScore(d.score)],
    ]);
    const explanation = typeof made.detail === 'string' && made.detail ? made.detail : d.explanation;
    $('decision-explanation').textContent = explanation || 'No explanation was recorded for this decision.';
    const attempts = Array.isArray(rec.attempts) ? rec.attempts : [];
    const table = $('decision-attempts');
    table.tBodies[0].replaceChildren(...(attempts.length ? attempts.map((a) => el('tr', {}, [
      cell('model', a.model || '–', a.model),
      cell('attempt', raw(a.attempt), a.attempt),
      el('td', { class: 'outcome', text: a.outcome || '–', title: a.error || '' }),
      cell('status', isNum(a.status) ? String(a.status) : '–', a.status),
      cell('duration', fmtMs(a.duration_ms), a.duration_ms),
    ])) : [emptyRow(table, 'No upstream call was made.')]));
    const signals = made.signals && typeof made.signals === 'object' ? Object.entries(made.signals) : [];
    facts($('decision-signals'), signals.length ? signals.map(([k, v]) => [k, signalText(v)]) : [['', 'No signals recorded.']]);
    const ratings = Array.isArray(feedback) ? feedback : [];
    $('decision-feedback').replaceChildren(...(ratings.length ? ratings.map((f) => el('li', {
      text: `${fmtScore(f.score)} from ${f.source || 'unknown'}, ${fmtTime(f.created_ms)}${f.comment ? `: ${f.comment}` : ''}`,
      title: f.id || '',
    })) : [el('li', { class: 'empty', text: 'No feedback for this request yet.' })]));
    $('decision-record').textContent = JSON.stringify(record, null, 2);
  }

  function closeDecision() {
    const id = state.selected;
    state.selected = null;
    state.detailGeneration += 1;
    $('decision-detail').hidden = true;
    for (const row of $('decisions').tBodies[0].rows) {
      row.classList.remove('selected');
      if (row.dataset.requestId === id) row.focus({ preventScroll: true });
    }
  }

  /* ---------- start ---------- */

  /** The range from the page's own ?range= (passed to the API as is), else 24h. */
  function initialRange() {
    const wanted = new URLSearchParams(window.location.search).get('range');
    const select = $('range');
    if (!wanted) return select.value;
    if (![...select.options].some((o) => o.value === wanted)) select.append(new Option(wanted, wanted));
    select.value = wanted;
    return wanted;
  }

  function onRangeChanged() {
    state.range = $('range').value;
    state.paged = false;
    state.nextBefore = null;
    const url = new URL(window.location.href);
    url.searchParams.set('range', state.range);
    window.history.replaceState(null, '', url.pathname + url.search);
    refresh();
  }

  function start() {
    state.range = initialRange();
    ['chart-spend', 'chart-mix-model', 'chart-mix-reason'].forEach((id) => placeholder(id, 'Loading…'));
    $('range').addEventListener('change', onRangeChanged);
    $('auth').addEventListener('submit', onKeySubmitted);
    $('decisions-more').addEventListener('click', loadMore);
    $('decision-close').addEventListener('click', closeDecision);
    const rows = $('decisions').tBodies[0];
    rows.addEventListener('click', (e) => { const row = rowFromEvent(e); if (row) openDecision(row.dataset.requestId); });
    rows.addEventListener('keydown', (e) => {
      const row = rowFromEvent(e);
      if (row && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); openDecision(row.dataset.requestId); }
    });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('decision-detail').hidden) closeDecision(); });
    let pending = 0;
    window.addEventListener('resize', () => { cancelAnimationFrame(pending); pending = requestAnimationFrame(resizeCharts); });
    setInterval(autoRefresh, REFRESH_MS);
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
