// charts.js: uPlot line charts over steps: one or more series, optionally from two runs
// on the same axes (the second run dashed), with a marker at the selected step.
'use strict';

const MoeCharts = (() => {
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  function color(i, n) {
    if (n <= PALETTE.length) return PALETTE[i % PALETTE.length];
    return `hsl(${Math.round((i * 360) / n)}, 70%, 45%)`;
  }

  let markerStep = null;
  const live = new Set();

  // The selected step as a dashed line in the plot's overlay element: moving it is a style
  // change, not a canvas redraw (redrawing 10+ charts of 32 series takes ~1 s on a slow CPU).
  function placeMarker(u) {
    const x = markerStep == null ? NaN : u.valToPos(markerStep, 'x');
    u._marker.style.display = isFinite(x) && x >= 0 && x <= u.over.clientWidth ? 'block' : 'none';
    if (isFinite(x)) u._marker.style.left = x + 'px';
  }

  function stepMarker() {
    return {
      hooks: {
        ready: [(u) => {
          u._marker = document.createElement('div');
          u._marker.className = 'step-marker';
          u.over.appendChild(u._marker);
          placeMarker(u);
        }],
        setScale: [(u, key) => { if (key === 'x' && u._marker) placeMarker(u); }],
      },
    };
  }

  // Axis labels that fit the 52 px axis: 12.5k, 3M, 0.25, 2.5e-4 (never "1.0e+4", whose
  // leading digit the axis clipped).
  function fmtTick(v) {
    const a = Math.abs(v);
    if (a === 0) return '0';
    for (const [d, suffix] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']])
      if (a >= d) return +(v / d).toPrecision(3) + suffix;
    if (a < 1e-3) {
      const [m, e] = v.toExponential(1).split('e');
      return +m + 'e' + +e;
    }
    return +v.toPrecision(3) + '';
  }

  // Padded y range; a constant series (e.g. a drop rate of 0) gets a small band around it.
  function yRange(u, min, max) {
    if (min == null || max == null) return [0, 1];
    if (max - min < 1e-12) { const pad = Math.abs(min) * 0.1 || 0.01; return [min - pad, max + pad]; }
    const pad = (max - min) * 0.05;
    return [min - pad, max + pad];
  }

  // groups: [{x: [...], series: [{label, values, color, dash, show, points}]}] (one group per
  // run and table); opts: height, points, xRange [lo, hi], xLabel, yLabel.
  function line(container, title, groups, opts = {}) {
    if (container._plot) { live.delete(container._plot); container._plot.destroy(); container._plot = null; }
    container.innerHTML = '';
    const nonEmpty = groups.filter((g) => g.x.length && g.series.length);
    if (!nonEmpty.length) {
      container.innerHTML = `<div class="na"><b>${title}</b><br>not logged for this run</div>`;
      return null;
    }
    const aligned = uPlot.join(nonEmpty.map((g) => [g.x, ...g.series.map((s) => s.values.map((v) => (v == null ? null : v)))]));
    const series = [{ label: 'step' }];
    for (const g of nonEmpty)
      for (const s of g.series)
        series.push({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, show: s.show !== false, spanGaps: true,
          points: { show: s.points || opts.points || false, size: 5 } });
    const width = Math.max(240, container.clientWidth || 300);
    const plot = new uPlot({
      title, width, height: opts.height || 200, series, plugins: [stepMarker()],
      scales: { x: { time: false, range: opts.xRange ? () => opts.xRange : undefined }, y: { range: yRange } },
      axes: [{ label: opts.xLabel || 'step', size: 36, labelSize: 16 }, { size: 52, values: (u, vals) => vals.map(fmtTick), label: opts.yLabel || '', labelSize: opts.yLabel ? 16 : 0 }],
      legend: { show: series.length <= 12, live: false },
      cursor: { drag: { x: true, y: false } },
    }, aligned, container);
    plot.root.dataset.title = title;
    container._plot = plot;
    live.add(plot);
    return plot;
  }

  function setMarker(step) {
    markerStep = step;
    for (const p of live) if (p._marker) placeMarker(p);
  }

  return { line, color, setMarker, fmtTick };
})();
