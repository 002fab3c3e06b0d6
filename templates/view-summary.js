// @ts-check
/* mkdocs-attnviz head summary: a layers × heads grid coloured by one statistic (entropy / log n, mean distance,
 * share to special tokens, to the previous token, to itself, to the next token, to the first token, within 2
 * tokens), numbers in the cells, the sink and local heads named below it; hover a cell for all the numbers of that
 * head, click it to open the head's heatmap below the grid. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas, M = window.Attnviz.matrix;
  if (!V || !M) return;
  var data = V.data, S = data.summary, H = V.H, L = V.L, set = data.sets.self;
  var state = { metric: S.metrics[0], selected: S.selected };
  var cv = null, geo = null, detail = null, layers = {}, named = null;

  var t = V.t;
  V.select(t("statistic"), "attnviz-metric", S.metrics.map(function (m) { return [m, S.labels[m]]; }), state.metric,
           function (v) { state.metric = v; draw(); });
  var legend = document.createElement("span");
  V.toolbar.appendChild(legend);

  function values(m) { return S.values[m]; }
  function top(m) {
    if (m === "entropy") return 1;
    var most = 0;
    values(m).forEach(function (row) { row.forEach(function (v) { if (v > most) most = v; }); });
    return most > 0 ? most : 1;
  }
  function fmt(m, v) { return m === "distance" ? v.toFixed(1) : v.toFixed(2); }

  function drawGrid() {
    var c = V.common.theme.colors(), width = V.plotWidth(), left = 58, right = 70, topPad = 22;
    if (left + 26 * H + right > width) {  // a narrow frame (a phone): margins as wide as their words
      var probe = cv ? cv.ctx : document.createElement("canvas").getContext("2d");
      probe.font = V.font(10);
      left = Math.min(left, Math.ceil(probe.measureText(t("layer_n", { layer: L - 1 })).width) + 12);
      right = Math.min(right, 25 + Math.ceil(probe.measureText(fmt(state.metric, top(state.metric))).width) + 6);
    }
    // cells of 12 px at the least: a cell too narrow for its number shows none (hover or the table does)
    var cw = Math.max(12, Math.min(64, Math.floor((width - left - right) / H))), ch = 30;
    geo = { left: left, top: topPad, cw: cw, ch: ch };
    var w = Math.max(width, left + H * cw + right), h = topPad + L * ch + 8;
    if (!cv) cv = V.canvas(w, h); else V.resize(cv, w, h);
    if (!named) {  // the sink heads and the local heads, named with their shares
      named = document.createElement("div");
      named.className = "attnviz-named";
      (S.named || []).forEach(function (line) {
        var p = document.createElement("p");
        p.textContent = line;
        named.appendChild(p);
      });
      V.plot.appendChild(named);
    }
    var ctx = cv.ctx, m = state.metric, hi = top(m), color = M.scale(data.palette, 0, hi);
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, w, h);
    ctx.font = V.font(10);
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    ctx.fillStyle = c.muted;
    // "head 11" over each column where it fits; else the numbers alone, every step-th where even they do not
    var full = ctx.measureText(t("head_n", { head: H - 1 })).width + 4 <= cw;
    var step = full ? 1 : Math.max(1, Math.ceil((ctx.measureText(String(H - 1)).width + 4) / cw));
    for (var hh = 0; hh < H; hh += step)
      ctx.fillText(full ? t("head_n", { head: hh }) : String(hh), left + hh * cw + cw / 2, 10);
    for (var l = 0; l < L; l++) {
      ctx.textAlign = "right";
      ctx.fillStyle = c.muted;
      ctx.fillText(t("layer_n", { layer: l }), left - 6, topPad + l * ch + ch / 2);
      ctx.textAlign = "center";
      for (hh = 0; hh < H; hh++) {
        var v = values(m)[l][hh], x = left + hh * cw, y = topPad + l * ch, col = color(v), rgb = V.rgb(col);
        ctx.fillStyle = col;
        ctx.fillRect(x, y, cw - 2, ch - 2);
        ctx.fillStyle = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 140 ? "#000000" : "#ffffff";
        var number = fmt(m, v);
        if (ctx.measureText(number).width <= cw - 3) ctx.fillText(number, x + (cw - 2) / 2, y + (ch - 2) / 2);
        if (state.selected && state.selected[0] === l && state.selected[1] === hh) {
          ctx.strokeStyle = c.accent;
          ctx.lineWidth = 2.5;
          ctx.strokeRect(x - 1, y - 1, cw, ch);
        }
      }
    }
    var bx = left + H * cw + 12;  // colour bar
    for (var i = 0; i < 48; i++) {
      ctx.fillStyle = color(hi * (1 - (i + 0.5) / 48));
      ctx.fillRect(bx, topPad + (L * ch - 2) * i / 48, 10, (L * ch - 2) / 48 + 0.5);
    }
    ctx.fillStyle = c.muted;
    ctx.textAlign = "left";
    ctx.fillText(fmt(m, hi), bx + 13, topPad + 5);
    ctx.fillText("0", bx + 13, topPad + L * ch - 8);
    legend.textContent = t("summary_legend", { description: S.descriptions[m] +
      (m === "entropy" ? " " + t("log_n", { value: S.log_n.toFixed(2) }) : "") });
  }

  function drawDetail() {
    if (!state.selected) { if (detail) { detail.canvas.remove(); detail = null; } return; }
    var l = state.selected[0], h = state.selected[1], u8 = layers[l], n = set.nq, nn = n * n, off = h * nn, hi = 0, i;
    for (i = 0; i < nn; i++) if (u8[off + i] > hi) hi = u8[off + i];
    hi = hi > 0 ? V.weight(hi) : 1;
    var width = V.plotWidth(), probe = cv.ctx;
    var o = { nq: n, nk: n, qTicks: set.q.ticks, kTicks: set.k.ticks, low: 0, high: hi, bar: true,
              value: function (q, k) { return V.weight(u8[off + q * n + k]); }, colors: M.scale(data.palette, 0, hi),
              masked: function (q, k) { return set.causal && k > q; },
              title: t("head_numbers", { layer: l, head: h, numbers: S.metrics.map(function (m) {
                return t("statistic_value", { statistic: S.labels[m], value: fmt(m, values(m)[l][h]) }); }).join(t("sep")) }) };
    var sz = M.size(probe, Math.min(width, 760), o);
    if (!detail) detail = V.canvas(width, sz.height); else V.resize(detail, width, sz.height);
    detail.ctx.fillStyle = V.common.theme.colors().bg;
    detail.ctx.fillRect(0, 0, width, sz.height);
    detail.geo = M.draw(detail, 0, 0, Math.min(width, 760), o);
  }

  function draw() {
    drawGrid();
    var done = state.selected ? loadLayer(state.selected[0]).then(drawDetail) : Promise.resolve(drawDetail());
    return done.then(function () {
      var sel = state.selected ? [t("opened", { layer: state.selected[0], head: state.selected[1] })] : [];
      V.setTitle("title_summary", [data.who, t("layers_heads", { layers: L, heads: H }), S.labels[state.metric]].concat(sel));
      V.ready({ view: "summary", metric: state.metric, selected: state.selected });
    });
  }

  function loadLayer(l) {
    if (layers[l]) return Promise.resolve(layers[l]);
    return V.layer("self", l).then(function (u8) { layers[l] = u8; return u8; });
  }

  function cellAt(event) {
    var r = cv.canvas.getBoundingClientRect(), x = event.clientX - r.left - geo.left, y = event.clientY - r.top - geo.top;
    var h = Math.floor(x / geo.cw), l = Math.floor(y / geo.ch);
    return x < 0 || y < 0 || h >= H || l >= L ? null : [l, h];
  }

  function select(l, h) {
    V.busy();
    state.selected = (state.selected && state.selected[0] === l && state.selected[1] === h) ? null : [l, h];
    return V.guard(draw());
  }

  V.common.theme.onChange(function () { if (cv) draw(); });
  V.downloads(function () {
    var m = state.metric, heads = [];
    for (var h = 0; h < H; h++) heads.push("head " + h);
    return { name: "head-summary-" + m, rows: values(m).map(function (_, l) { return "layer " + l; }), cols: heads,
             value: function (r, c) { return values(m)[r][c]; },
             meta: { who: data.who, text: data.text, statistic: m, description: S.descriptions[m],
                     rows_are: "layers", cols_are: "heads" } };
  });

  V.guard(draw().then(function () {
    cv.canvas.style.cursor = "pointer";
    cv.canvas.addEventListener("click", function (e) { var lh = cellAt(e); if (lh) select(lh[0], lh[1]); });
    cv.canvas.addEventListener("mousemove", function (e) {
      var lh = cellAt(e);
      if (!lh) { V.tip(null); return; }
      var rows = [[t("layer"), String(lh[0])], [t("head"), String(lh[1])]];
      S.metrics.forEach(function (m) { rows.push([S.labels[m], fmt(m, values(m)[lh[0]][lh[1]])]); });
      rows.push([t("entropy_nats"), t("of_log_n", { value: values("entropy_nats")[lh[0]][lh[1]].toFixed(3), log_n: S.log_n.toFixed(3) })]);
      rows.push(["", t("click_open")]);
      V.tip(e, rows);
    });
    cv.canvas.addEventListener("mouseleave", function () { V.tip(null); });
    V.plot.addEventListener("mousemove", function (e) {
      if (!detail || e.target !== detail.canvas || !state.selected) return;
      var qk = detail.geo.at(e);
      if (!qk) { V.tip(null); return; }
      var l = state.selected[0], h = state.selected[1], n = set.nq;
      V.tip(e, [[t("query"), V.tokenText(set.q, qk[0])], [t("key"), V.tokenText(set.k, qk[1])],
                [t("weight"), set.causal && qk[1] > qk[0] ? t("masked_short") : V.weight(layers[l][h * n * n + qk[0] * n + qk[1]]).toFixed(3)]]);
    });
  }));
  window.Attnviz.handle = { select: select, state: state,
    box: function (l, h) {  // the viewport rectangle of a head's cell (attnviz-keys.js)
      if (!cv || !geo) return null;
      var r = cv.canvas.getBoundingClientRect();
      return { x: r.left + geo.left + h * geo.cw, y: r.top + geo.top + l * geo.ch, w: geo.cw, h: geo.ch };
    } };
})();
