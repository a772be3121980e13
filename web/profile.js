// profile.js: a `scope --model` run's routing profile in the dashboard (/api/profile): an
// expert's most frequent tokens on hover (tooltip) and click (pinned) in the load heatmap, and
// the corpus-vs-corpus view: per layer and expert, the difference of the two corpora's load
// shares and each expert's specialisation (docs/metrics.md, "Routing over a corpus").
'use strict';

const MoeProfile = (() => {
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const cache = {};
  let current = null;

  async function load(run) {
    if (!(run in cache)) cache[run] = await MoeApi.get('/api/profile', { run }).catch(() => null);
    return cache[run];
  }
  function forget(run) { delete cache[run]; }

  const layerOf = (p, layer) => (p ? p.layers.find((l) => l.layer === layer) : null);
  const tokenText = (t) => esc(JSON.stringify(t.text));

  // HTML of one expert: its top tokens with their share of its slots (a range when the bounded
  // counter could only bracket the count: count_error > 0), and its corpus shares.
  function expertHtml(p, layer, e) {
    const l = layerOf(p, layer);
    if (!l || e >= l.experts) return `<div class="na">L${layer}: no profile for expert ${e}</div>`;
    const toks = l.top_tokens[e] || [];
    let h = `<div class="expert-title">L${layer} expert ${e}: ${l.counts[e]} slots</div>`;
    h += toks.length ? '<ol class="tokens">' + toks.map((t) => `<li><code>${tokenText(t)}</code> ${(100 * t.share).toFixed(1)}% (${t.count_error ? `${t.count - t.count_error}–` : ''}${t.count})</li>`).join('') + '</ol>'
                     : '<div class="na">no token of the corpus chose this expert</div>';
    if (p.corpora.length >= 2) {
      h += '<div class="shares">' + p.corpora.map((c, k) => `${esc(c.name)}: ${(100 * l.corpus_share[k][e]).toFixed(2)}%`).join('; ');
      const s = l.specialisation[e];
      h += s == null ? '' : `; specialisation ${s.toFixed(3)}`;
      h += '</div>';
    }
    return h;
  }

  // Hover shows a tooltip, click pins the expert into #expert-tokens. rows: layer id per row.
  function attach(container, rows, p) {
    current = p;
    const canvas = container && container.querySelector('canvas');
    const tip = $('expert-tip');
    $('expert-tokens-wrap').hidden = !p;
    if (!canvas || !p) { tip.hidden = true; return; }
    canvas.onmousemove = (ev) => {
      const c = MoeHeatmap.cellAt(canvas, ev);
      if (!c) { tip.hidden = true; return; }
      tip.innerHTML = expertHtml(current, rows[c.i], c.j);
      tip.style.left = ev.pageX + 14 + 'px'; tip.style.top = ev.pageY + 10 + 'px';
      tip.hidden = false;
    };
    canvas.onmouseleave = () => { tip.hidden = true; };
    canvas.onclick = (ev) => {
      const c = MoeHeatmap.cellAt(canvas, ev);
      if (c) $('expert-tokens').innerHTML = expertHtml(current, rows[c.i], c.j);
    };
  }

  // The corpus section: layer-to-layer agreement; with two or more corpora, corpus vs corpus.
  function renderCorpora(p) {
    $('corpus-section').hidden = !p;
    if (!p) return;
    $('corpus-names').textContent = p.corpora.map((c) => `${c.name} (${c.tokens} tokens)`).join(', ');
    $('agreement-list').innerHTML = p.agreement.map((g) => `<li>L${g.from} &rarr; L${g.to}: MI ${g.mi.toFixed(4)} nats, NMI ${g.nmi.toFixed(4)}</li>`).join('') || '<li>one MoE layer</li>';
    const many = p.corpora.length >= 2;
    $('corpus-compare').hidden = !many;
    if (!many) return;
    const opts = p.corpora.map((c, k) => `<option value="${k}">${esc(c.name)}</option>`).join('');
    for (const [id, v] of [['corpus-a', 0], ['corpus-b', 1]]) {
      const sel = $(id);
      if (sel.dataset.opts !== opts) { sel.innerHTML = opts; sel.value = String(v); sel.dataset.opts = opts; }
      sel.onchange = () => drawCorpora(p);
    }
    drawCorpora(p);
  }

  function drawCorpora(p) {
    const a = Number($('corpus-a').value), b = Number($('corpus-b').value);
    const rows = p.layers.map((l) => l.layer), labels = rows.map((l) => 'L' + l);
    const diff = p.layers.map((l) => l.corpus_share[a].map((v, e) => v - l.corpus_share[b][e]));
    MoeHeatmap.draw($('heatmap-corpus-diff'), diff, { rowLabels: labels, scale: 'diverging', unit: { mul: 100, suffix: '%' }, legendTitle: 'share A - B' });
    MoeHeatmap.draw($('heatmap-specialisation'), p.layers.map((l) => l.specialisation), { rowLabels: labels, scale: 'sequential', min: 0, max: 1, legendTitle: 'specialisation' });
    $('caption-corpus-diff').textContent = `${p.corpora[a].name} minus ${p.corpora[b].name}: load share per expert`;
    for (const id of ['heatmap-corpus-diff', 'heatmap-specialisation']) {
      const canvas = $(id).querySelector('canvas');
      canvas.onclick = (ev) => {
        const c = MoeHeatmap.cellAt(canvas, ev);
        if (c) $('corpus-expert').innerHTML = expertHtml(p, rows[c.i], c.j);
      };
    }
    const spec = [];
    for (const l of p.layers) l.specialisation.forEach((s, e) => { if (s != null) spec.push({ layer: l.layer, e, s, pref: l.preferred_corpus[e] }); });
    spec.sort((x, y) => y.s - x.s);
    $('specialised-list').innerHTML = spec.slice(0, 10).map((x) => `<li>L${x.layer} expert ${x.e}: ${x.s.toFixed(3)}, prefers ${esc(p.corpora[x.pref].name)}</li>`).join('');
  }

  return { load, forget, attach, renderCorpora, expertHtml };
})();
