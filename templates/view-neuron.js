// @ts-check
/* mkdocs-attnviz neuron view (after bertviz's): for one layer, one head and one query token, the query vector q,
 * the key vectors of the key/value head it reads (grouped-query attention shares one among several query heads),
 * their element-wise product q × k, the dot product q · k, the bias (relative position bias, ALiBi) when there is
 * one, the score f(q · k × scale) + bias (f: the model's soft cap, if any) and the softmax over the keys the mask
 * leaves open (causal, sliding window, chunked), which is the attention weight. The numbers come from the model
 * at build time (data.qk describes them; query/key/bias/mask blocks per layer). */
(function () {
  "use strict";
  var V = window.Attnviz.canvas;
  if (!V) return;
  var data = V.data, info = data.qk, d = info.d, scales = info.scale;
  var group = info.heads / info.kv_heads, caps = info.softcap, biasShape = info.bias;
  var state = { layer: data.layer, head: typeof data.head === "number" ? data.head : 0, query: data.query || 0,
                softmax: null, attention: null };
  var Q = null, K = null, A = null, B = null, M = null, cv = null, geo = null;
  var s = data.sets[data.set], nq = s.nq, nk = s.nk;

  var t = V.t;
  V.select(t("layer"), "attnviz-layer", V.layerOptions(), state.layer, function (v) { state.layer = v; load(); });
  V.select(t("head"), "attnviz-head", V.headOptions([]), state.head, function (v) { state.head = v; draw(); });
  var qopts = [];
  for (var i = 0; i < nq; i++) qopts.push([i, i + ": " + s.q.ticks[i]]);
  V.select(t("query"), "attnviz-query", qopts, state.query, function (v) { state.query = v; draw(); });
  var legend = document.createElement("span"), kvNote = document.createElement("span");
  V.toolbar.appendChild(legend);
  V.toolbar.appendChild(kvNote);

  function kvHead(h) { return Math.floor(h / group); }
  function qvec(h, q) { return Q.subarray((h * nq + q) * d, (h * nq + q + 1) * d); }
  function kvec(kv, k) { return K.subarray((kv * nk + k) * d, (kv * nk + k + 1) * d); }
  function bias(h, q, k) {
    if (!B) return null;
    var hb = biasShape[1], qb = biasShape[2];
    return B[((hb > 1 ? h : 0) * qb + (qb > 1 ? q : 0)) * nk + k];
  }
  // "later" (the future of a causal set), "window" (outside a sliding window or chunk) or "" (open)
  function masked(q, k) {
    var m = info.masks[state.layer];
    if (m.explicit !== undefined) return M[q * nk + k] ? "" : (k > q ? "later" : "window");
    if (m.right !== null && m.right !== undefined && k - q > m.right) return "later";
    if (m.left !== null && m.left !== undefined && q - k > m.left) return "window";
    return "";
  }
  function legendText() {
    var scale = scales[state.layer].toPrecision(4), cap = caps ? caps[state.layer] : null;
    if (cap) return t("neuron_legend_softcap", { scale: scale, cap: cap });
    return t(B ? "neuron_legend_bias" : "neuron_legend", { scale: scale });
  }

  function compute() {
    var h = state.head, q = qvec(h, state.query), kv = kvHead(h), rows = [], max = -Infinity, j;
    var scale = scales[state.layer], cap = caps ? caps[state.layer] : null;
    for (var k = 0; k < nk; k++) {
      var kvv = kvec(kv, k), dot = 0, prod = new Float32Array(d);
      for (j = 0; j < d; j++) { prod[j] = q[j] * kvv[j]; dot += prod[j]; }
      var score = dot * scale, b = bias(h, state.query, k), why = masked(state.query, k);
      if (cap) score = Math.tanh(score / cap) * cap;
      if (b !== null) score += b;
      rows.push({ k: kvv, prod: prod, dot: dot, bias: b, score: score, masked: why !== "", why: why, e: 0, softmax: 0,
                  attention: 0 });
      if (!why && score > max) max = score;
    }
    var sum = 0;
    rows.forEach(function (r) { r.e = r.masked ? 0 : Math.exp(r.score - max); sum += r.e; });
    rows.forEach(function (r, k) {
      r.softmax = r.e / sum;
      r.attention = V.weight(A[(h * nq + state.query) * nk + k]);
    });
    return { q: q, rows: rows, kv: kv };
  }

  function cellColor(v, m) {
    var a = Math.min(1, Math.abs(v) / (m || 1));
    return v >= 0 ? "rgba(31,119,180," + a.toFixed(3) + ")" : "rgba(255,127,14," + a.toFixed(3) + ")";
  }

  function draw() {
    if (!Q) return;
    var c = V.common.theme.colors(), res = compute(), width = V.plotWidth(), extra = B ? 58 : 0;
    var lab = 110, sp = 58, bar = 70, row = 18, top = 58;
    var cell = Math.max(2, Math.min(10, Math.floor((width - lab - 260 - extra) / (2 * d + 2))));
    if (lab + 8 + 2 * d * cell + 28 + 2 * sp + extra + bar + 40 > width) {
      // a narrow frame (a phone): the token column as wide as its longest token, the number columns and the
      // softmax bars narrower, the vectors' cells down to 1 px, so the last column is not cut at the right edge
      var probe = cv ? cv.ctx : document.createElement("canvas").getContext("2d"), longest = 0;
      probe.font = V.font(11, true);
      s.k.ticks.concat([s.q.ticks[state.query]]).forEach(function (tick) { longest = Math.max(longest, probe.measureText(tick).width); });
      lab = Math.min(lab, Math.ceil(longest) + 12);
      sp = 46;
      bar = 40;
      extra = B ? sp : 0;
      cell = Math.max(1, Math.min(cell, Math.floor((width - lab - 8 - 28 - 2 * sp - extra - bar - 40) / (2 * d))));
    }
    var xk = lab + 8, xp = xk + d * cell + 14, xs = xp + d * cell + 14, xb = xs + sp, xc = xb + extra, xm = xc + sp;
    geo = { lab: lab, cell: cell, row: row, top: top, xk: xk, xp: xp, xs: xs };
    var height = top + nk * row + 8;
    if (!cv) cv = V.canvas(width, height); else V.resize(cv, width, height);
    var ctx = cv.ctx, m = 0, mp = 0, j;
    for (j = 0; j < d; j++) m = Math.max(m, Math.abs(res.q[j]));
    res.rows.forEach(function (r) { for (j = 0; j < d; j++) { m = Math.max(m, Math.abs(r.k[j])); mp = Math.max(mp, Math.abs(r.prod[j])); } });
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, width, height);
    ctx.font = V.font(11);
    ctx.textBaseline = "middle";
    ctx.fillStyle = c.muted;
    ctx.textAlign = "left";
    ctx.fillText(t("query_q"), xk, 10);
    ctx.fillText(t("keys_k"), xk, top - 10);
    ctx.fillText("q × k", xp, top - 10);
    ctx.fillText("q · k", xs, top - 10);
    if (B) ctx.fillText(t("bias"), xb, top - 10);
    ctx.fillText(t("score"), xc, top - 10);
    ctx.fillText("softmax", xm, top - 10);
    ctx.textAlign = "right";
    ctx.fillStyle = c.accent;
    ctx.font = V.font(11, true);
    ctx.fillText(s.q.ticks[state.query], xk - 6, 28);
    for (j = 0; j < d; j++) { ctx.fillStyle = cellColor(res.q[j], m); ctx.fillRect(xk + j * cell, 20, cell - (cell > 3 ? 1 : 0), 16); }
    ctx.strokeStyle = c.grid;
    ctx.strokeRect(xk - 0.5, 19.5, d * cell + 1, 17);
    res.rows.forEach(function (r, k) {
      var y = top + k * row;
      ctx.globalAlpha = r.masked ? 0.3 : 1;
      ctx.textAlign = "right";
      ctx.fillStyle = s.square && k === state.query ? c.accent : c.fg;
      ctx.font = V.font(11);
      ctx.fillText(s.k.ticks[k], xk - 6, y + row / 2);
      for (j = 0; j < d; j++) {
        ctx.fillStyle = cellColor(r.k[j], m); ctx.fillRect(xk + j * cell, y + 2, cell - (cell > 3 ? 1 : 0), row - 4);
        ctx.fillStyle = cellColor(r.prod[j], mp); ctx.fillRect(xp + j * cell, y + 2, cell - (cell > 3 ? 1 : 0), row - 4);
      }
      ctx.textAlign = "left";
      ctx.fillStyle = c.fg;
      ctx.fillText(r.masked ? t("masked_word") : r.dot.toFixed(2), xs, y + row / 2);
      if (B) ctx.fillText(r.masked ? "" : r.bias.toFixed(2), xb, y + row / 2);
      ctx.fillText(r.masked ? "" : r.score.toFixed(2), xc, y + row / 2);
      ctx.fillStyle = c.accent;
      ctx.fillRect(xm, y + 4, bar * r.softmax, row - 8);
      ctx.fillStyle = c.fg;
      ctx.fillText(r.softmax.toFixed(3), xm + bar + 4, y + row / 2);
      ctx.globalAlpha = 1;
    });
    legend.textContent = legendText();
    kvNote.textContent = group > 1 ? t("kv_shared", { kv: res.kv, first: res.kv * group, last: res.kv * group + group - 1 }) : "";
    state.softmax = res.rows.map(function (r) { return r.softmax; });
    state.attention = res.rows.map(function (r) { return r.attention; });
    V.setTitle("title_neuron", [data.who].concat([V.layerText(state.layer), V.headText(state.head),
               t("query_of", { query: t("token_label", { index: state.query, label: s.q.labels[state.query] }) })]));
    V.ready({ view: "neuron", layer: state.layer, head: state.head, query: state.query, kv_head: res.kv,
              softmax: state.softmax, attention: state.attention,
              masked: res.rows.map(function (r) { return r.why; }) });
  }

  function load() {
    V.busy();
    var l = state.layer, lb = biasShape ? (biasShape[0] > 1 ? l : 0) : null, m = info.masks[l];
    return V.guard(Promise.all([V.vectors("query", l), V.vectors("key", l), V.layer(data.set, l),
                                lb === null ? null : V.vectors("bias", lb),
                                m.explicit === undefined ? null : V.vectors("mask", m.explicit)])
      .then(function (r) { Q = r[0]; K = r[1]; A = r[2]; B = r[3]; M = r[4]; draw(); }));
  }

  V.common.theme.onChange(function () { draw(); });
  V.downloads(function () {
    if (!Q) return null;
    var res = compute(), cols = ["q·k", "bias", "score", "softmax", "attention (extracted)"];
    return { name: "neuron-layer" + state.layer + "-head" + state.head + "-query" + state.query, corner: "key",
             rows: s.k.labels, cols: cols,
             value: function (r, c) {
               var x = res.rows[r];
               if (c === 1 && x.bias === null) return NaN;
               return x.masked && c < 3 ? NaN : [x.dot, x.bias, x.score, x.softmax, x.attention][c];
             },
             meta: { who: data.who, text: data.text, layer: state.layer, head: state.head, kv_head: res.kv,
                     query: state.query, query_token: s.q.labels[state.query],
                     query_vector: Array.prototype.slice.call(res.q) } };
  });

  load().then(function () {
    cv.canvas.addEventListener("mousemove", function (e) {
      var r = cv.canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
      var k = Math.floor((y - geo.top) / geo.row), res;
      if (k < 0 || k >= nk) { V.tip(null); return; }
      res = compute().rows[k];
      var rows = [[t("key"), V.tokenText(s.k, k)]];
      var j = Math.floor((x - geo.xk) / geo.cell), jp = Math.floor((x - geo.xp) / geo.cell);
      if (j >= 0 && j < d) rows.push(["k[" + j + "]", res.k[j].toFixed(4)]);
      if (jp >= 0 && jp < d) rows.push(["q×k[" + jp + "]", res.prod[jp].toFixed(4)]);
      rows.push(["q · k", res.dot.toFixed(4)]);
      if (res.bias !== null) rows.push([t("bias"), res.bias.toFixed(4)]);
      rows.push(["softmax", res.masked ? t(res.why === "later" ? "masked_short" : "masked_window") : res.softmax.toFixed(4)]);
      V.tip(e, rows);
    });
    cv.canvas.addEventListener("mouseleave", function () { V.tip(null); });
  });
})();
