// @ts-check
/* mkdocs-attnviz comparison: A and B on one colour scale and A − B on a diverging scale (red: A larger, blue: B
 * larger), side by side; a layer and a head selector for each side; hover any panel for A, B and A − B. When the
 * two inputs have different tokens only A and B are drawn, each with its own tokens. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas, M = window.Attnviz.matrix;
  if (!V || !M) return;
  var data = V.data, R = data.records;
  var state = { a: { layer: data.a.layer, head: data.a.head }, b: { layer: data.b.layer, head: data.b.head } };
  var cv = null, panels = [], cache = {}, mats = {}, t = V.t;

  function rec(side) { return R[data[side].record]; }
  function options(side) {
    var r = rec(side), ls = [], hs = [];
    for (var l = 0; l < r.num_layers; l++) ls.push([l, l === r.num_layers - 1 ? t("last", { layer: l }) : String(l)]);
    for (var h = 0; h < r.num_heads; h++) hs.push([h, String(h)]);
    return { layers: ls, heads: hs.concat(r.texts.fused_heads ? [["mean", t("fused")]] : [["mean", t("mean")], ["max", t("max")]]) };
  }
  ["a", "b"].forEach(function (side) {
    var o = options(side), group = document.createElement("span"), name = side.toUpperCase();
    V.select(t("side_layer", { side: name }), "attnviz-" + side + "-layer", o.layers, state[side].layer, function (v) { state[side].layer = v; update(); }, group);
    if (!rec(side).texts.fused_heads)
      V.select(t("side_head", { side: name }), "attnviz-" + side + "-head", o.heads, state[side].head, function (v) { state[side].head = v; update(); }, group);
    V.controls.appendChild(group);
  });
  var legend = document.createElement("span");
  legend.textContent = data.same_tokens ? t("compare_legend") : data.mismatch;
  V.toolbar.appendChild(legend);

  function layerBytes(name, l) {
    var key = name + ":" + l;
    if (!cache[key]) cache[key] = V.common.bytes('script[data-set="' + name + '"][data-layer="' + l + '"]');
    return cache[key];
  }
  function matrix(u8, r, head) { return V.common.matrix(u8, r.n * r.n, r.num_heads, head); }
  function sideText(side) {  // each side in its own record's words
    var r = rec(side), s = state[side];
    return V.common.describe(r.who, s.layer, s.head, r.num_layers, r.num_heads, false, r.texts);
  }

  function draw() {
    var c = V.common.theme.colors(), width = V.plotWidth(), cols = data.same_tokens ? 3 : 2;
    var pw = Math.floor((width - 8) / cols), ra = rec("a"), rb = rec("b"), A = mats.a, B = mats.b, top = 0, dmax = 0, i;
    for (i = 0; i < A.length; i++) top = Math.max(top, A[i]);
    for (i = 0; i < B.length; i++) top = Math.max(top, B[i]);
    top = top > 0 ? top : 1;
    if (data.same_tokens) for (i = 0; i < A.length; i++) dmax = Math.max(dmax, Math.abs(A[i] - B[i]));
    dmax = dmax > 0 ? dmax : 1;
    var seq = M.scale(data.palette, 0, top), div = M.scale(data.diverging, -dmax, dmax);
    function opts(r, value, colors, low, high, title) {
      return { nq: r.n, nk: r.n, qTicks: r.side.ticks, kTicks: r.side.ticks, value: value, colors: colors, low: low,
               high: high, bar: true, title: title, masked: function (q, k) { return r.causal && k > q; } };
    }
    function panelTitle(side) {
      var s = state[side];
      return t("panel_title", { side: side.toUpperCase(), layer: s.layer,
                                head: typeof s.head === "number" ? t("head_n", { head: s.head }) : t(s.head) });
    }
    var list = [opts(ra, function (q, k) { return A[q * ra.n + k]; }, seq, 0, top, panelTitle("a")),
                opts(rb, function (q, k) { return B[q * rb.n + k]; }, seq, 0, top, panelTitle("b"))];
    list[0].bar = false;  // A and B share one scale: one bar, beside B
    if (data.same_tokens) {
      var d = opts(ra, function (q, k) { return A[q * ra.n + k] - B[q * ra.n + k]; }, div, -dmax, dmax, "A − B");
      d.qTicks = d.kTicks = data.diff_ticks;
      list.push(d);
    }
    if (!cv) cv = V.canvas(width, 10);
    var h = 0, cell = 28;  // one cell size for every panel
    list.forEach(function (o) { cell = Math.min(cell, M.size(cv.ctx, pw, o).cell); });
    list.forEach(function (o) { o.cell = cell; h = Math.max(h, M.size(cv.ctx, pw, o).height); });
    V.resize(cv, width, h);
    cv.ctx.fillStyle = c.bg;
    cv.ctx.fillRect(0, 0, width, h);
    panels = list.map(function (o, idx) { return M.draw(cv, idx * pw, 0, pw, o); });
    V.setTitle(t("title_compare", { a: sideText("a"), b: sideText("b"), difference: data.same_tokens ? data.diff_text : data.mismatch }));
    V.ready({ view: "compare", a: state.a, b: state.b, same_tokens: data.same_tokens, panels: panels.length, top: top, dmax: dmax });
  }

  function update() {
    V.busy();
    return V.guard(Promise.all([layerBytes(data.a.record, state.a.layer), layerBytes(data.b.record, state.b.layer)]).then(function (u8) {
      mats.a = matrix(u8[0], rec("a"), state.a.head);
      mats.b = matrix(u8[1], rec("b"), state.b.head);
      draw();
    }));
  }

  V.common.theme.onChange(function () { if (mats.a) draw(); });
  V.downloads(function () {
    if (!mats.a || !data.same_tokens) return null;
    var r = rec("a");
    return { name: "attention-difference", rows: r.side.labels, cols: r.side.labels,
             value: function (q, k) { return mats.a[q * r.n + k] - mats.b[q * r.n + k]; },
             meta: { a: sideText("a"), b: sideText("b"), text: data.text, matrix: "A - B",
                     rows_are: "query tokens", cols_are: "key tokens" } };
  });

  update().then(function () {
    cv.canvas.addEventListener("mousemove", function (e) {
      for (var p = 0; p < panels.length; p++) {
        var qk = panels[p].at(e);
        if (!qk) continue;
        var side = p === 1 ? "b" : "a", r = rec(side), rows = [[t("query"), p === 2 ? data.diff_ticks[qk[0]] : V.tokenText(r.side, qk[0])],
                                                               [t("key"), p === 2 ? data.diff_ticks[qk[1]] : V.tokenText(r.side, qk[1])]];
        if (data.same_tokens) {
          var a = mats.a[qk[0] * r.n + qk[1]], b = mats.b[qk[0] * r.n + qk[1]];
          rows.push(["A", a.toFixed(3)], ["B", b.toFixed(3)], ["A − B", (a - b >= 0 ? "+" : "") + (a - b).toFixed(3)]);
        } else rows.push([side.toUpperCase(), mats[side][qk[0] * r.n + qk[1]].toFixed(3)]);
        if (r.causal && qk[1] > qk[0]) rows.push(["", t("masked_short")]);
        V.tip(e, rows);
        return;
      }
      V.tip(null);
    });
    cv.canvas.addEventListener("mouseleave", function () { V.tip(null); });
  });
  window.Attnviz.handle = { state: state, update: update, matrices: mats };
})();
