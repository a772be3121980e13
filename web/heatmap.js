// heatmap.js: matrix heatmaps on a canvas (layer x expert load, bias, dead experts,
// expert co-activation), with row/column labels and a labelled colour scale.
'use strict';

const MoeHeatmap = (() => {
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  function lerpStops(stops, t) {
    t = Math.min(1, Math.max(0, t));
    const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const a = stops[i], b = stops[i + 1];
    return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(',')})`;
  }
  const sequential = (t) => lerpStops(VIRIDIS, t);
  const diverging = (t) => lerpStops([[33, 102, 172], [247, 247, 247], [178, 24, 43]], t);
  const binary = (t) => (t > 0.5 ? '#dc2626' : '#e5e7eb');

  function fmt(v) {
    const a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    if (a >= 0.01) return v.toFixed(2);
    return v.toExponential(1);
  }

  // opts: rowLabels, colLabel (axis title), rowTitle, scale: 'sequential'|'diverging'|'binary',
  // unit: multiplier and suffix for the legend ({mul: 100, suffix: '%'}), legendTitle,
  // min/max (fixed range), cell (px), sameScale.
  function draw(container, matrix, opts) {
    container.innerHTML = '';
    const rows = matrix.length, cols = rows ? Math.max(...matrix.map((r) => r.length)) : 0;
    const cell = opts.cell || Math.max(6, Math.min(28, Math.floor(560 / Math.max(cols, 1))));
    const cellH = Math.max(6, Math.min(28, Math.floor(cell * Math.min(1, 16 / Math.max(rows, 1)) * 1.2)));
    const left = 58, top = 10, bottom = 40, legendW = 90;
    const W = left + cols * cell + legendW + 10, H = top + rows * cellH + bottom;
    const canvas = document.createElement('canvas');
    const dpr = window.devicePixelRatio || 1;
    canvas.width = W * dpr; canvas.height = Math.max(H, 150) * dpr;
    canvas.style.width = W + 'px'; canvas.style.height = Math.max(H, 150) + 'px';
    canvas.dataset.rows = rows; canvas.dataset.cols = cols;
    // cell geometry in CSS pixels, for pointer lookups (profile.js: an expert's top tokens)
    canvas.dataset.left = left; canvas.dataset.top = top; canvas.dataset.cell = cell; canvas.dataset.cellH = cellH;
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    let lo = Infinity, hi = -Infinity;
    for (const r of matrix) for (const v of r) if (v != null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (opts.min != null) lo = opts.min;
    if (opts.max != null) hi = Math.max(opts.max, hi);
    if (opts.scale === 'diverging') { const m = Math.max(Math.abs(lo), Math.abs(hi), 1e-12); lo = -m; hi = m; }
    if (opts.scale === 'binary') { lo = 0; hi = 1; }
    if (hi <= lo) hi = lo + 1e-12;
    const color = opts.scale === 'diverging' ? diverging : opts.scale === 'binary' ? binary : sequential;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const v = matrix[i][j];
        ctx.fillStyle = v == null || !isFinite(v) ? '#fff' : color((v - lo) / (hi - lo));
        ctx.fillRect(left + j * cell, top + i * cellH, cell - (cell > 8 ? 1 : 0), cellH - (cellH > 8 ? 1 : 0));
      }
    }
    ctx.fillStyle = '#333'; ctx.font = '11px sans-serif'; ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    const rowStep = Math.ceil(12 / cellH);
    for (let i = 0; i < rows; i += rowStep) ctx.fillText(opts.rowLabels ? opts.rowLabels[i] : String(i), left - 4, top + i * cellH + cellH / 2);
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    const colStep = Math.ceil(18 / cell);
    for (let j = 0; j < cols; j += colStep) ctx.fillText(String(j), left + j * cell + cell / 2, top + rows * cellH + 3);
    ctx.fillText(opts.colTitle || 'expert', left + (cols * cell) / 2, top + rows * cellH + 20);
    ctx.save(); ctx.translate(12, top + (rows * cellH) / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(opts.rowTitle || 'layer', 0, -6); ctx.restore();
    // Legend: a vertical colour bar with labelled ends and middle.
    const lx = left + cols * cell + 14, lh = Math.max(rows * cellH, 100);
    const unit = opts.unit || { mul: 1, suffix: '' };
    if (opts.scale === 'binary') {
      ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
      ctx.fillStyle = binary(1); ctx.fillRect(lx, top, 12, 12); ctx.fillStyle = '#333'; ctx.fillText('dead', lx + 16, top + 6);
      ctx.fillStyle = binary(0); ctx.fillRect(lx, top + 18, 12, 12); ctx.fillStyle = '#333'; ctx.fillText('alive', lx + 16, top + 24);
    } else {
      for (let y = 0; y < lh; y++) { ctx.fillStyle = color(1 - y / lh); ctx.fillRect(lx, top + y, 12, 1); }
      ctx.fillStyle = '#333'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
      for (const t of [0, 0.5, 1]) ctx.fillText(fmt((lo + (hi - lo) * t) * unit.mul) + unit.suffix, lx + 16, top + lh * (1 - t));
      if (opts.legendTitle) { ctx.textBaseline = 'top'; ctx.fillText(opts.legendTitle, lx - 4, top + lh + 6); }
    }
    canvas.dataset.min = lo; canvas.dataset.max = hi;
    container.appendChild(canvas);
    return canvas;
  }

  // The (row, col) cell under a pointer event on a canvas drawn by draw(), or null.
  function cellAt(canvas, ev) {
    const r = canvas.getBoundingClientRect(), d = canvas.dataset;
    const i = Math.floor((ev.clientY - r.top - Number(d.top)) / Number(d.cellH));
    const j = Math.floor((ev.clientX - r.left - Number(d.left)) / Number(d.cell));
    return i >= 0 && j >= 0 && i < Number(d.rows) && j < Number(d.cols) ? { i, j } : null;
  }

  return { draw, sequential, cellAt };
})();
