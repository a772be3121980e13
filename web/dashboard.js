// dashboard.js: the moescope dashboard (and, with window.MOESCOPE_STATIC, a report): run and
// comparison pickers, training and per-layer charts, heatmaps with a step slider and play
// button, the alert/remediation timeline, the health table, co-activation, compression runs.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const S = { runs: [], a: null, b: null, metaA: null, metaB: null, step: null, hidden: new Set(), versions: {},
    follow: true, playing: null, token: 0, refreshing: false, pending: false };
  const isReport = MoeApi.isStatic;
  const POINTS = 1000;

  function message(text) { $('message').textContent = text || ''; }
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

  async function series(run, table, field) {
    try { return await MoeApi.get('/api/series', { run, table, field, points: POINTS }); } catch (e) { return null; }
  }

  // One uPlot group per (run, table) response: record-level or per-layer series.
  function group(resp, run, dashed, perLayer, label) {
    if (!resp) return { x: [], series: [] };
    const n = resp.series.length;
    return {
      x: resp.x,
      series: resp.series.map((s, i) => ({
        // A per-layer chart may also hold the record-level value (entity ''): all layers pooled.
        label: (!perLayer ? label || resp.field : s.entity != null && s.entity !== '' ? 'L' + s.entity : label || 'all layers') +
          (S.b ? ' · ' + run : ''),
        values: s.values,
        color: perLayer ? MoeCharts.color(i, n) : dashed ? '#888' : label === 'val' ? '#d62728' : '#1f77b4',
        dash: dashed ? [6, 4] : undefined,
        show: !(perLayer && S.hidden.has(s.entity)),
        points: resp.table === 'eval',  // evaluations are sparse: mark each one
      })),
    };
  }

  // Shared x axis of the step charts: the train steps of the run(s) shown.
  function stepRange() {
    const ts = [S.metaA, S.metaB].filter(Boolean).map((m) => m.tables.train).filter((t) => t.rows);
    if (!ts.length) return undefined;
    const lo = Math.min(...ts.map((t) => t.first_step)), hi = Math.max(...ts.map((t) => t.last_step));
    return hi > lo ? [lo, hi] : undefined;
  }

  function runsShown() { return S.b ? [[S.a, false], [S.b, true]] : [[S.a, false]]; }

  async function chart(id, title, specs, opts) {
    const groups = [];
    for (const [run, dashed] of runsShown())
      for (const [table, field, perLayer, label] of specs)
        groups.push(group(await series(run, table, field), run, dashed, perLayer, label));
    MoeCharts.line($(id), title, groups, { xRange: stepRange(), ...opts });
  }

  async function renderCharts() {
    const m = S.metaA;
    const compress = m.kind === 'compress';
    $('train-section').hidden = compress; $('layers-section').hidden = compress; $('heatmap-section').hidden = compress;
    $('events-section').hidden = compress; $('health-section').hidden = compress; $('coact-section').hidden = compress;
    $('compress-section').hidden = !compress;
    if (compress) return renderCompress();
    await Promise.all([
      chart('chart-loss', 'loss (train, validation)', [['train', 'loss', false, 'loss'], ['eval', 'val_loss', false, 'val']]),
      chart('chart-lr', 'learning rate', [['train', 'lr', false]]),
      chart('chart-tps', 'tokens / s', [['train', 'tokens_per_s', false]]),
      chart('chart-gn', 'gradient norm', [['train', 'grad_norm', false]]),
      chart('chart-entropy', 'load entropy (normalised)', [['train', 'entropy_norm', true]]),
      chart('chart-top1', 'router confidence: top-1 score', [['train', 'top1_score', true]]),
      chart('chart-rentropy', 'router token entropy (normalised)', [['train', 'router_entropy', true]]),
      chart('chart-maxvio', 'MaxVio (batch)', [['train', 'maxvio_batch', true]]),
      chart('chart-maxvio-global', 'MaxVio (global, validation)', [['eval', 'maxvio_global', true]]),
      chart('chart-drop', 'drop rate', [['train', 'drop_rate', true]]),
      chart('chart-tpe', 'tokens per expert, all layers: min / p50 / p90 / p99 / max',
        ['min', 'p50', 'p90', 'p99', 'max'].map((q) => ['train', 'tokens_per_expert_' + q, false, q])),
      chart('chart-tpe-cv', 'tokens per expert: CV (per layer, and all layers pooled)', [['train', 'tokens_per_expert_cv', true, 'all layers']]),
      chart('chart-maxvio-all', 'MaxVio (batch) across layers: max / mean',
        [['train', 'maxvio_batch_max', false, 'max'], ['train', 'maxvio_batch_mean', false, 'mean']]),
      chart('chart-saturation', 'router saturation: top-k overlap', [['train', 'saturation_topk_overlap', true]], { points: true }),
    ]);
  }

  // Fields of the iteration records whose charts say nothing: constant by construction
  // (`seconds`, one iteration's duration), or only while they stay 0 (`nonfinite`).
  const COMPRESS_CONSTANT = new Set(['seconds']);
  const COMPRESS_ZERO_ONLY = new Set(['nonfinite']);

  const fmtNum = (v, digits = 3) => (typeof v === 'number' && isFinite(v) ? +v.toPrecision(digits) + '' : '–');
  const fmtCount = (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : '–');

  // The compress_summary record as a table: one row per bank (layer group): rel. error, median
  // support, parameters before -> after; a totals row; the run's settings above it.
  function compressTable(sum) {
    const box = $('compress-summary');
    if (!sum) { box.innerHTML = '<p class="na">no compress_summary record yet (the compression has not finished)</p>'; return; }
    const banks = new Map((sum.banks || []).map((b) => [b.group, b]));
    const rows = (sum.groups || []).map((g) => {
      const b = banks.get(g.group) || {};
      const ratio = typeof b.params_before === 'number' && b.params_before > 0 ? fmtNum(100 * (1 - b.params_after / b.params_before), 3) + '%' : '–';
      return `<tr data-group="${esc(g.group)}"><td>${esc(g.group)}</td><td>${g.layer ?? '–'}</td><td>${esc(g.family ?? '–')}</td>` +
        `<td class="num">${fmtNum(g.rel_error)}</td><td class="num">${fmtNum(g.support_median)}</td>` +
        `<td class="num">${fmtCount(b.params_before)}</td><td class="num">${fmtCount(b.params_after)}</td><td class="num">${ratio}</td></tr>`;
    });
    const total = typeof sum.expert_params_before === 'number'
      ? `<tr class="total"><td colspan="5">routed experts, all banks</td><td class="num">${fmtCount(sum.expert_params_before)}</td>` +
        `<td class="num">${fmtCount(sum.expert_params_after)}</td><td class="num">${fmtNum(100 * (sum.expert_compression_rate ?? 0))}%</td></tr>` : '';
    const settings = ['solver', 'scope', 'activation', 'iterations', 'stop_reason'].filter((k) => sum[k] != null)
      .map((k) => `${k} <b>${esc(sum[k])}</b>`).join(', ');
    const secs = sum.wall_s ?? sum.seconds;
    box.innerHTML = `<p class="compress-settings">${settings}${secs != null ? `, ${fmtNum(secs)} s` : ''}` +
      `${sum.model_compression_rate != null ? `; model parameters ${fmtNum(100 * sum.model_compression_rate)}% fewer` : ''}</p>` +
      '<table id="compress-table"><thead><tr><th>bank</th><th>layer</th><th>family</th><th>rel. error</th><th>support (median)</th>' +
      `<th>params before</th><th>params after</th><th>saved</th></tr></thead><tbody>${rows.join('')}${total}</tbody></table>`;
  }

  async function renderCompress() {
    const m = S.metaA, box = $('compress-charts');
    compressTable(m.compress_summary);
    box.innerHTML = '';
    // per-group fields first (rel_error, mse, ...), then run-level ones (elapsed_s, ...)
    const fields = m.tables.compress.fields;
    const perGroup = (f) => fields[f].some((e) => e !== '');
    const order = Object.keys(fields).filter((f) => !COMPRESS_CONSTANT.has(f))
      .sort((x, y) => perGroup(y) - perGroup(x) || x.localeCompare(y));
    for (const field of order) {
      const groups = [];
      for (const [run, dashed] of runsShown()) {
        const resp = await series(run, 'compress', field);
        if (!resp) continue;
        groups.push({ x: resp.x, series: resp.series.map((s, i) => ({ label: (s.entity || field) + (S.b ? ' · ' + run : ''),
          values: s.values, color: MoeCharts.color(i, resp.series.length), dash: dashed ? [6, 4] : undefined })) });
      }
      if (COMPRESS_ZERO_ONLY.has(field) && groups.every((g) => g.series.every((s) => s.values.every((v) => v == null || v === 0))))
        continue;
      const div = document.createElement('div');
      div.className = 'chart'; div.id = 'chart-compress-' + field;
      box.appendChild(div);
      MoeCharts.line(div, field + (perGroup(field) ? ' per group' : ''), groups, { xLabel: 'iteration' });
    }
  }

  function layerToggles() {
    const box = $('layer-toggles');
    box.innerHTML = 'layers: ';
    const layers = S.metaA.layers;
    layers.forEach((l, i) => {
      const lab = document.createElement('label');
      lab.innerHTML = `<input type="checkbox" data-layer="${l}" ${S.hidden.has(String(l)) ? '' : 'checked'}>` +
        `<span class="swatch" style="background:${MoeCharts.color(i, layers.length)}"></span>L${l}`;
      box.appendChild(lab);
    });
    box.onchange = (ev) => {
      const l = ev.target.dataset.layer;
      if (ev.target.checked) S.hidden.delete(l); else S.hidden.add(l);
      renderCharts();
    };
  }

  function stepParams(extra) {
    return isReport || S.step == null ? extra : { ...extra, step: S.step };
  }

  async function heatmap(run, field, extra) {
    try { return await MoeApi.get('/api/heatmap', stepParams({ run, field, ...(extra || {}) })); } catch (e) { return { error: e.message }; }
  }

  function drawMatrix(id, resp, opts) {
    const el = $(id);
    if (!resp || resp.error || !resp.values.length) { el.innerHTML = `<div class="na">${esc(resp && resp.error ? resp.error : 'not logged')}</div>`; return; }
    MoeHeatmap.draw(el, resp.values, { rowLabels: (resp.layers || []).map((l) => 'L' + l), ...opts });
  }

  async function renderStep() {
    if (S.metaA.kind !== 'train' || !S.metaA.tables.train.rows) return;
    const token = ++S.token;
    const [load, bias, dead, health, loadB] = await Promise.all([
      heatmap(S.a, 'load'), heatmap(S.a, 'bias'), heatmap(S.a, 'dead'),
      MoeApi.get('/api/health', stepParams({ run: S.a })).catch(() => null),
      S.b ? heatmap(S.b, 'load') : null]);
    if (token !== S.token) return;  // a newer step was asked for meanwhile
    const E = S.metaA.experts || 1;
    // one colour scale for both runs, at least twice the uniform share
    const peak = [load, loadB].filter((r) => r && r.values).flatMap((r) => r.values.flat()).filter((v) => v != null).reduce((a, b) => Math.max(a, b), 2 / E);
    const loadOpts = { scale: 'sequential', min: 0, max: peak, unit: { mul: 100, suffix: '%' }, legendTitle: '% of slots' };
    drawMatrix('heatmap-load', load, loadOpts);
    MoeProfile.attach($('heatmap-load'), (load && load.layers) || [], S.profileA);
    $('caption-load').textContent = `${S.a}: load (share of top-k slots)`;
    $('fig-load-b').hidden = !S.b;
    if (S.b) { drawMatrix('heatmap-load-b', loadB, loadOpts); $('caption-load-b').textContent = `${S.b}: load at step ${loadB && loadB.step != null ? loadB.step : '-'}`; }
    drawMatrix('heatmap-bias', bias, { scale: 'diverging', legendTitle: 'bias' });
    drawMatrix('heatmap-dead', dead, { scale: 'binary' });
    const shown = load && load.step != null ? load.step : '-';
    $('step-label').textContent = shown;
    for (const el of document.querySelectorAll('.step-echo')) el.textContent = shown;
    if (load && load.step != null) MoeCharts.setMarker(load.step);
    renderHealth(health);
    S.shownStep = load && load.step;
    renderTimelineCursor(S.shownStep);
  }

  function renderHealth(h) {
    const t = $('health-table');
    if (!h) { t.innerHTML = ''; return; }
    const f = (v, d) => (v == null ? '-' : Number(v).toFixed(d));
    const tpe = (t) => (t ? `${f(t.p50, 0)} / ${f(t.p99, 0)} (${f(t.min, 0)}-${f(t.max, 0)})` : '-');
    t.innerHTML = '<tr><th>layer</th><th>entropy</th><th>N_eff</th><th>MaxVio batch</th><th>MaxVio global</th><th>dead</th><th>starved</th><th>tokens/expert p50 / p99 (min-max)</th><th>drop rate</th><th>status</th></tr>' +
      h.layers.map((r) => `<tr><td>${r.layer}</td><td>${f(r.entropy_norm, 3)}</td><td>${f(r.n_eff, 2)}</td><td>${f(r.maxvio_batch, 3)}</td>` +
        `<td>${f(r.maxvio_global, 3)}</td><td>${r.dead.length ? r.dead.join(',') : '-'}</td>` +
        `<td>${r.starved && r.starved.length ? r.starved.join(',') : '-'}</td><td>${tpe(r.tokens_per_expert)}</td><td>${f(r.drop_rate, 4)}</td>` +
        `<td class="status-${esc(r.status)}">${esc(r.status)}</td></tr>`).join('');
  }

  async function renderCoact() {
    const sel = $('coact-layer');
    if (!sel.options.length || sel.dataset.run !== S.a) {
      sel.innerHTML = S.metaA.layers.map((l) => `<option value="${l}">L${l}</option>`).join('');
      sel.dataset.run = S.a;
    }
    if (!S.metaA.coactivation_records) { $('heatmap-coact').innerHTML = '<div class="na">co-activation not logged for this run</div>'; return; }
    const resp = await heatmap(S.a, 'coactivation', { layer: sel.value });
    if (resp.error) { $('heatmap-coact').innerHTML = `<div class="na">${esc(resp.error)}</div>`; return; }
    MoeHeatmap.draw($('heatmap-coact'), resp.values, { rowTitle: 'expert', colTitle: 'expert', scale: 'sequential', legendTitle: 'tokens',
      rowLabels: resp.values.map((_, i) => String(i)), cell: Math.max(8, Math.min(24, Math.floor(360 / resp.values.length))) });
    $('caption-coact').textContent = `tokens routed to both experts, layer ${resp.layer}, step ${resp.step}`;
  }

  let events = [];
  async function renderEvents() {
    const ev = await MoeApi.get('/api/events', { run: S.a }).catch(() => ({ alerts: [], remediations: [] }));
    events = [...ev.alerts.map((a) => ({ kind: 'alert', ...a })), ...ev.remediations.map((r) => ({ kind: 'remediation', ...r }))]
      .sort((x, y) => x.step - y.step);
    const list = $('event-list'), tl = $('timeline');
    list.innerHTML = ''; tl.innerHTML = '';
    const t = S.metaA.tables.train, lo = t.first_step || 0, hi = Math.max(t.last_step || 1, lo + 1);
    const pos = (s) => (100 * (s - lo)) / (hi - lo);
    for (const s of [lo, (lo + hi) / 2, hi]) tl.insertAdjacentHTML('beforeend', `<span class="tick" style="left:${pos(s)}%">${Math.round(s)}</span>`);
    tl.insertAdjacentHTML('beforeend', '<span class="cursor" id="timeline-cursor"></span>');
    events.forEach((e, i) => {
      const text = e.kind === 'alert'
        ? `step ${e.step} · layer ${e.layer} · ${e.severity} ${e.rule}` + (e.experts && e.experts.length ? ` (experts ${e.experts.join(',')})` : '') + (e.fix ? ` — fix: ${e.fix}` : '')
        : `step ${e.step} · layer ${e.layer} · remediation ${e.action}: ${e.from} → ${e.to}`;
      const li = document.createElement('li');
      li.className = 'event-item ' + (e.kind === 'alert' ? 'alert-item' : 'remediation-item');
      li.dataset.step = e.step; li.dataset.index = i; li.textContent = text;
      list.appendChild(li);
      const mark = document.createElement('span');
      mark.className = `mark ${e.kind === 'alert' ? esc(e.severity || 'warning') : 'remediation'}`;
      mark.style.left = pos(e.step) + '%'; mark.title = text; mark.dataset.step = e.step; mark.dataset.index = i;
      tl.appendChild(mark);
    });
    if (!events.length) list.innerHTML = '<li class="none">no alerts or remediation events</li>';
    renderTimelineCursor(S.shownStep);
  }

  function renderTimelineCursor(step) {
    const c = $('timeline-cursor'), t = S.metaA.tables.train;
    if (!c || step == null) return;
    const lo = t.first_step || 0, hi = Math.max(t.last_step || 1, lo + 1);
    c.style.left = (100 * (step - lo)) / (hi - lo) + '%';
  }

  function onEventClick(ev) {
    const el = ev.target.closest('[data-step]');
    if (!el || isReport) return;
    for (const li of document.querySelectorAll('#event-list li.selected')) li.classList.remove('selected');
    const li = document.querySelector(`#event-list li[data-index="${el.dataset.index}"]`);
    if (li) li.classList.add('selected');
    setStep(Number(el.dataset.step));
  }

  function setStep(step) {
    const sl = $('step-slider');
    sl.value = step;
    S.step = Number(sl.value);
    S.follow = S.step >= Number(sl.max);
    renderStep();
  }

  function setupSlider() {
    const t = S.metaA.tables.train, sl = $('step-slider');
    sl.min = t.first_step != null ? t.first_step : 0;
    sl.max = t.last_step != null ? t.last_step : 0;
    if (S.follow || S.step == null) S.step = Number(sl.max);
    sl.value = S.step;
    $('last-step').textContent = t.last_step != null ? t.last_step : (S.metaA.tables.compress.last_step ?? '-');
  }

  function togglePlay() {
    const btn = $('play'), sl = $('step-slider');
    if (S.playing) { clearInterval(S.playing); S.playing = null; btn.textContent = '\u25B6 play'; return; }
    const lo = Number(sl.min), hi = Number(sl.max), inc = Math.max(1, Math.round((hi - lo) / 100));
    if (Number(sl.value) >= hi) setStep(lo);
    btn.textContent = '\u275A\u275A pause';
    S.playing = setInterval(() => {
      const next = Math.min(hi, Number(sl.value) + inc);
      setStep(next);
      if (next >= hi) togglePlay();
    }, 300);
  }

  function fillRunSelects() {
    const opts = S.runs.map((r) => `<option value="${esc(r.id)}">${esc(r.id)} (${esc(r.kind)}, ${r.records} records)</option>`).join('');
    $('run-select').innerHTML = opts; $('run-select').value = S.a;
    $('compare-select').innerHTML = '<option value="">(none)</option>' + opts; $('compare-select').value = S.b || '';
  }

  // Loads run in turn: a selection made while another load is still drawing waits for it,
  // so the last selection is what stays on screen.
  let chain = Promise.resolve();
  function loadRun() {
    const next = chain.then(loadRunNow);
    chain = next.catch(() => {});
    return next;
  }

  async function loadRunNow() {
    S.metaA = await MoeApi.get('/api/run', { run: S.a });
    S.metaB = S.b ? await MoeApi.get('/api/run', { run: S.b }).catch(() => null) : null;
    if (!S.metaB) S.b = null;
    setupSlider();
    $('step-controls').hidden = S.metaA.kind !== 'train';
    layerToggles();
    const w = S.metaA.warnings || [];
    $('warnings-section').hidden = !w.length;
    $('warning-list').innerHTML = w.map((x) => `<li>${esc(x)}</li>`).join('') + (S.metaA.warning_count > w.length ? `<li>... ${S.metaA.warning_count} in all</li>` : '');
    const train = S.metaA.kind === 'train';
    MoeProfile.forget(S.a);  // a new run or a live change: read the profile again (null for training runs)
    S.profileA = train ? await MoeProfile.load(S.a) : null;
    MoeProfile.renderCorpora(S.profileA);
    await Promise.all([renderCharts(), renderEvents(), train && renderStep(), train && renderCoact()]);
    document.body.dataset.loaded = S.a + '@' + S.metaA.version;
  }

  // Live update: re-read what changed, at most one refresh at a time.
  async function onRuns(runs) {
    const known = S.runs.map((r) => r.id).join('|');
    S.runs = runs;
    if (runs.map((r) => r.id).join('|') !== known) fillRunSelects();
    const changed = runs.some((r) => (r.id === S.a || r.id === S.b) && S.versions[r.id] !== undefined && S.versions[r.id] !== r.version);
    for (const r of runs) S.versions[r.id] = r.version;
    if (!changed) return;
    if (S.refreshing) { S.pending = true; return; }
    S.refreshing = true;
    try { await loadRun(); } catch (e) { message(e.message); }
    S.refreshing = false;
    if (S.pending) { S.pending = false; S.versions[S.a] = -1; onRuns(S.runs); }
  }

  async function main() {
    if (isReport) document.body.classList.add('report');
    try {
      S.runs = await MoeApi.get('/api/runs');
      for (const r of S.runs) S.versions[r.id] = r.version;
      if (!S.runs.length) { message('no runs (directories with a metrics.jsonl) under the log directory yet'); }
      const hash = new URLSearchParams(location.hash.slice(1));
      const pick = hash.get('run');
      S.a = S.runs.some((r) => r.id === pick) ? pick : (S.runs.find((r) => r.kind === 'train') || S.runs[0] || {}).id;
      S.b = S.runs.some((r) => r.id === hash.get('compare')) ? hash.get('compare') : null;
      fillRunSelects();
      if (S.a) await loadRun();
    } catch (e) {
      message(e.message);
    }
    $('run-select').onchange = () => { S.a = $('run-select').value; S.step = null; S.follow = true; S.hidden.clear(); loadRun().catch((e) => message(e.message)); };
    $('compare-select').onchange = () => { S.b = $('compare-select').value || null; loadRun().catch((e) => message(e.message)); };
    $('coact-layer').onchange = () => renderCoact();
    $('step-slider').oninput = () => setStep(Number($('step-slider').value));
    $('play').onclick = togglePlay;
    $('event-list').onclick = onEventClick;
    $('timeline').onclick = onEventClick;
    MoeApi.subscribe(onRuns, (on) => $('live').classList.toggle('on', on));
  }

  main();
})();
