/* mkdocs-attnviz neuron view (after bertviz's): for one layer, one head and one query token, the query
 * vector q, every key vector k, their element-wise product q × k, the dot product q · k, the scaled score and
 * the softmax over the keys, which is the attention weight. Vectors come from forward hooks at build time. */
(function () {
  "use strict";
  var V = window.AttnvizCanvas;
  if (!V) return;
  var data = V.data, H = V.H, d = data.qk.d, scales = data.qk.scale;
  var state = { layer: data.layer, head: typeof data.head === "number" ? data.head : 0, query: data.query || 0,
                softmax: null, attention: null };
  var Q = null, K = null, A = null, cv = null, geo = null;
  var s = data.sets[data.set], n = s.nq;

  var t = V.t;
  V.select(t("layer"), "attnviz-layer", V.layerOptions(), state.layer, function (v) { state.layer = v; load(); });
  V.select(t("head"), "attnviz-head", V.headOptions([]), state.head, function (v) { state.head = v; draw(); });
  var qopts = [];
  for (var i = 0; i < n; i++) qopts.push([i, i + ": " + s.q.ticks[i]]);
  V.select(t("query"), "attnviz-query", qopts, state.query, function (v) { state.query = v; draw(); });
  var legend = document.createElement("span");
  legend.textContent = t("neuron_legend", { scale: scales ? scales[0].toPrecision(4) : t("scale") });
  V.toolbar.appendChild(legend);

  function vec(arr, h, tok) { return arr.subarray((h * n + tok) * d, (h * n + tok + 1) * d); }

  function compute() {
    var q = vec(Q, state.head, state.query), rows = [], max = -Infinity, j, c;
    for (var k = 0; k < n; k++) {
      var kv = vec(K, state.head, k), dot = 0, prod = new Float32Array(d);
      for (j = 0; j < d; j++) { prod[j] = q[j] * kv[j]; dot += prod[j]; }
      var masked = s.causal && k > state.query, score = dot * scales[state.layer];
      rows.push({ k: kv, prod: prod, dot: dot, score: score, masked: masked });
      if (!masked && score > max) max = score;
    }
    var sum = 0;
    rows.forEach(function (r) { r.e = r.masked ? 0 : Math.exp(r.score - max); sum += r.e; });
    rows.forEach(function (r, k) {
      r.softmax = r.e / sum;
      r.attention = A[(state.head * n + state.query) * n + k] / 255;
    });
    return { q: q, rows: rows };
  }

  function cellColor(v, m, dark) {
    var a = Math.min(1, Math.abs(v) / (m || 1));
    return v >= 0 ? "rgba(31,119,180," + a.toFixed(3) + ")" : "rgba(255,127,14," + a.toFixed(3) + ")";
  }

  function draw() {
    if (!Q) return;
    var c = V.common.theme.colors(), res = compute(), width = V.plotWidth();
    var lab = 110, cell = Math.max(2, Math.min(10, Math.floor((width - lab - 260) / (2 * d + 2)))), row = 18, top = 58;
    var xk = lab + 8, xp = xk + d * cell + 14, xs = xp + d * cell + 14;
    geo = { lab: lab, cell: cell, row: row, top: top, xk: xk, xp: xp, xs: xs };
    var height = top + n * row + 8;
    if (!cv) cv = V.canvas(width, height); else V.resize(cv, width, height);
    var ctx = cv.ctx, m = 0, mp = 0, j;
    for (j = 0; j < d; j++) m = Math.max(m, Math.abs(res.q[j]));
    res.rows.forEach(function (r) { for (j = 0; j < d; j++) { m = Math.max(m, Math.abs(r.k[j])); mp = Math.max(mp, Math.abs(r.prod[j])); } });
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillStyle = c.muted;
    ctx.textAlign = "left";
    ctx.fillText(t("query_q"), xk, 10);
    ctx.fillText(t("keys_k"), xk, top - 10);
    ctx.fillText("q × k", xp, top - 10);
    ctx.fillText("q · k", xs, top - 10);
    ctx.fillText(t("score"), xs + 58, top - 10);
    ctx.fillText("softmax", xs + 116, top - 10);
    ctx.textAlign = "right";
    ctx.fillStyle = c.accent;
    ctx.font = "bold 11px system-ui, \"Noto Sans CJK JP\", sans-serif";
    ctx.fillText(s.q.ticks[state.query], xk - 6, 28);
    for (j = 0; j < d; j++) { ctx.fillStyle = cellColor(res.q[j], m); ctx.fillRect(xk + j * cell, 20, cell - (cell > 3 ? 1 : 0), 16); }
    ctx.strokeStyle = c.grid;
    ctx.strokeRect(xk - 0.5, 19.5, d * cell + 1, 17);
    res.rows.forEach(function (r, k) {
      var y = top + k * row;
      ctx.globalAlpha = r.masked ? 0.3 : 1;
      ctx.textAlign = "right";
      ctx.fillStyle = k === state.query ? c.accent : c.fg;
      ctx.font = "11px system-ui, \"Noto Sans CJK JP\", sans-serif";
      ctx.fillText(s.k.ticks[k], xk - 6, y + row / 2);
      for (j = 0; j < d; j++) {
        ctx.fillStyle = cellColor(r.k[j], m); ctx.fillRect(xk + j * cell, y + 2, cell - (cell > 3 ? 1 : 0), row - 4);
        ctx.fillStyle = cellColor(r.prod[j], mp); ctx.fillRect(xp + j * cell, y + 2, cell - (cell > 3 ? 1 : 0), row - 4);
      }
      ctx.textAlign = "left";
      ctx.fillStyle = c.fg;
      ctx.fillText(r.masked ? t("masked_word") : r.dot.toFixed(2), xs, y + row / 2);
      ctx.fillText(r.masked ? "" : r.score.toFixed(2), xs + 58, y + row / 2);
      ctx.fillStyle = c.accent;
      ctx.fillRect(xs + 116, y + 4, 70 * r.softmax, row - 8);
      ctx.fillStyle = c.fg;
      ctx.fillText(r.softmax.toFixed(3), xs + 190, y + row / 2);
      ctx.globalAlpha = 1;
    });
    state.softmax = res.rows.map(function (r) { return r.softmax; });
    state.attention = res.rows.map(function (r) { return r.attention; });
    V.setTitle("title_neuron", [data.who, V.layerText(state.layer), V.headText(state.head),
               t("query_of", { query: t("token_label", { index: state.query, label: s.q.labels[state.query] }) })]);
    V.ready({ view: "neuron", layer: state.layer, head: state.head, query: state.query, softmax: state.softmax,
              attention: state.attention });
  }

  function load() {
    window.attnvizReady = false;
    return V.guard(Promise.all([V.vectors("query", state.layer), V.vectors("key", state.layer), V.layer(data.set, state.layer)])
      .then(function (r) { Q = r[0]; K = r[1]; A = r[2]; draw(); }));
  }

  V.common.theme.onChange(function () { draw(); });
  V.downloads(function () {
    if (!Q) return null;
    var res = compute(), cols = ["q·k", "score", "softmax", "attention (extracted)"];
    return { name: "neuron-layer" + state.layer + "-head" + state.head + "-query" + state.query, corner: "key",
             rows: s.k.labels, cols: cols,
             value: function (r, c) { var x = res.rows[r]; return x.masked && c < 2 ? NaN : [x.dot, x.score, x.softmax, x.attention][c]; },
             meta: { who: data.who, text: data.text, layer: state.layer, head: state.head, query: state.query,
                     query_token: s.q.labels[state.query], query_vector: Array.prototype.slice.call(res.q) } };
  });

  load().then(function () {
    cv.canvas.addEventListener("mousemove", function (e) {
      var r = cv.canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
      var k = Math.floor((y - geo.top) / geo.row), res;
      if (k < 0 || k >= n) { V.tip(null); return; }
      res = compute().rows[k];
      var rows = [[t("key"), V.tokenText(s.k, k)]];
      var j = Math.floor((x - geo.xk) / geo.cell), jp = Math.floor((x - geo.xp) / geo.cell);
      if (j >= 0 && j < d) rows.push(["k[" + j + "]", res.k[j].toFixed(4)]);
      if (jp >= 0 && jp < d) rows.push(["q×k[" + jp + "]", res.prod[jp].toFixed(4)]);
      rows.push(["q · k", res.dot.toFixed(4)], ["softmax", res.masked ? t("masked_short") : res.softmax.toFixed(4)]);
      V.tip(e, rows);
    });
    cv.canvas.addEventListener("mouseleave", function () { V.tip(null); });
  });
})();
