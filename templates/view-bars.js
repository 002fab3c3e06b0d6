// @ts-check
/* mkdocs-attnviz bar chart: the attention each token receives (mean over the queries of its column) or
 * that one query token gives (its row), for a layer and a head aggregation; bars or a line. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas;
  if (!V) return;
  var data = V.data, H = V.H;
  var state = { set: data.set, layer: data.layer, head: data.head === "all" ? "mean" : data.head,
                query: data.query === null ? "all" : data.query, chart: "bars", values: null };
  var decoded = null, cv = null, geo = null;

  function set() { return data.sets[state.set]; }

  var t = V.t;
  V.select(t("layer"), "attnviz-layer", V.layerOptions(), state.layer, function (v) { state.layer = v; load(); });
  V.select(t("head"), "attnviz-head", V.headOptions(), state.head, function (v) { state.head = v; draw(); });
  var queryWrap = document.createElement("span");
  V.controls.appendChild(queryWrap);
  function buildQuery() {
    queryWrap.textContent = "";
    var s = set(), opts = [["all", t("all_received")]];
    for (var i = 0; i < s.nq; i++) opts.push([i, i + ": " + s.q.ticks[i]]);
    if (state.query !== "all" && state.query >= s.nq) state.query = "all";
    V.select(t("query"), "attnviz-query", opts, state.query, function (v) { state.query = v; draw(); }, queryWrap);
  }
  buildQuery();
  V.setSelect(state.set, function (v) { state.set = v; buildQuery(); load(); });
  V.select(t("chart"), "attnviz-chart", [["bars", t("bars")], ["line", t("line")]], state.chart, function (v) { state.chart = v; draw(); }, V.toolbar);

  function values() {
    var s = set(), m = V.headMatrix(decoded, state.set, state.head), out = new Float32Array(s.nk);
    if (state.query === "all") {
      for (var q = 0; q < s.nq; q++) for (var k = 0; k < s.nk; k++) out[k] += m[q * s.nk + k];
      for (k = 0; k < s.nk; k++) out[k] /= s.nq;
    } else {
      for (k = 0; k < s.nk; k++) out[k] = m[state.query * s.nk + k];
    }
    return out;
  }

  function niceTop(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), r = v / p;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * p;
  }

  function draw() {
    if (!decoded) return;
    var s = set(), c = V.common.theme.colors(), vals = values(), n = s.nk;
    state.values = Array.prototype.slice.call(vals);
    var width = V.plotWidth(), probe = (cv ? cv.ctx : document.createElement("canvas").getContext("2d"));
    var font = n > 80 ? 8 : n > 40 ? 9 : 11;
    probe.font = V.font(font);
    var longest = 0;
    s.k.ticks.forEach(function (t) { longest = Math.max(longest, probe.measureText(t).width); });
    var left = 52, right = 12, top = 14, plotH = 300, bottom = Math.min(120, Math.ceil(longest * 0.72) + 26);
    var slot = (width - left - right) / n;
    geo = { left: left, top: top, plotH: plotH, slot: slot, n: n, yTop: 0 };
    var height = top + plotH + bottom;
    if (!cv) cv = V.canvas(width, height); else V.resize(cv, width, height);
    var ctx = cv.ctx, max = 0, i;
    for (i = 0; i < n; i++) if (vals[i] > max) max = vals[i];
    var yTop = niceTop(max * 1.05);
    geo.yTop = yTop;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, width, height);
    // axes and grid
    ctx.strokeStyle = c.grid;
    ctx.fillStyle = c.muted;
    ctx.font = V.font(10);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 1;
    for (var tick = 0; tick <= 5; tick++) {
      var yv = yTop * tick / 5, yy = top + plotH - plotH * tick / 5;
      ctx.beginPath(); ctx.moveTo(left, Math.round(yy) + 0.5); ctx.lineTo(width - right, Math.round(yy) + 0.5); ctx.stroke();
      ctx.fillText(yv.toFixed(yTop < 0.1 ? 3 : 2), left - 5, yy);
    }
    ctx.save();
    ctx.translate(12, top + plotH / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(state.query === "all" ? t("received") : t("attention_weight"), 0, 0);
    ctx.restore();
    // bars or line
    var barW = Math.max(1, slot * 0.78);
    function yOf(v) { return top + plotH - plotH * v / yTop; }
    if (state.chart === "bars") {
      for (i = 0; i < n; i++) {
        ctx.fillStyle = state.query !== "all" && s.square && i === state.query ? "#ff7f0e" : (s.k.special[i] ? c.muted : c.accent);
        ctx.fillRect(left + i * slot + (slot - barW) / 2, yOf(vals[i]), barW, top + plotH - yOf(vals[i]));
      }
    } else {
      ctx.strokeStyle = c.accent;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (i = 0; i < n; i++) { var x = left + (i + 0.5) * slot; if (i) ctx.lineTo(x, yOf(vals[i])); else ctx.moveTo(x, yOf(vals[i])); }
      ctx.stroke();
      ctx.fillStyle = c.accent;
      for (i = 0; i < n; i++) { ctx.beginPath(); ctx.arc(left + (i + 0.5) * slot, yOf(vals[i]), Math.min(3, slot / 3), 0, 2 * Math.PI); ctx.fill(); }
    }
    // causal: keys after the chosen query are masked (hatched band)
    if (s.causal && state.query !== "all" && state.query < n - 1) {
      var x0 = left + (state.query + 1) * slot;
      ctx.fillStyle = "rgba(128,128,128,0.18)";
      ctx.fillRect(x0, top, width - right - x0, plotH);
      ctx.fillStyle = c.muted;
      ctx.textAlign = "center";
      ctx.fillText(t("masked_later"), (x0 + width - right) / 2, top + 10);
    }
    // token labels, rotated 45°
    ctx.fillStyle = c.fg;
    ctx.font = V.font(font);
    ctx.textAlign = "right";
    var every = Math.max(1, Math.ceil((font + 2) / slot / 1.2));
    for (i = 0; i < n; i += every) {
      ctx.save();
      ctx.translate(left + (i + 0.5) * slot + 3, top + plotH + 6);
      ctx.rotate(-Math.PI / 4);
      ctx.fillText(s.k.ticks[i], 0, 0);
      ctx.restore();
    }
    var what = state.query === "all" ? t("attention_received")
      : t("attention_given", { query: t("token_label", { index: state.query, label: s.q.labels[state.query] }) });
    V.setTitle("title_bars", [data.who].concat(V.setPart(state.set), [V.layerText(state.layer), V.headText(state.head), what]));
    V.ready({ view: "bars", set: state.set, layer: state.layer, head: state.head, query: state.query, chart: state.chart,
              values: state.values });
  }

  function load() {
    V.busy();
    return V.guard(V.layer(state.set, state.layer).then(function (u8) { decoded = u8; draw(); }));
  }

  V.common.theme.onChange(function () { draw(); });
  V.downloads(function () {
    if (!decoded) return null;
    var s = set(), vals = values();
    return { name: "attention-bars-" + state.set + "-layer" + state.layer + "-head" + state.head + "-query" + state.query,
             corner: "", rows: [state.query === "all" ? "received (mean over queries)" : s.q.labels[state.query]],
             cols: s.k.labels, value: function (r, c) { return vals[c]; },
             meta: { who: data.who, text: data.text, set: state.set, layer: state.layer, head: state.head,
                     query: state.query, cols_are: "key tokens" } };
  });

  // a live figure (attnviz-live.js) replaced the payload's sets: the query list and the bars again
  window.Attnviz.reload = function () { state.set = data.set; buildQuery(); return load(); };
  load().then(function () {
    cv.canvas.addEventListener("mousemove", function (e) {
      var r = cv.canvas.getBoundingClientRect(), i = Math.floor((e.clientX - r.left - geo.left) / geo.slot);
      if (i < 0 || i >= geo.n || e.clientY - r.top > geo.top + geo.plotH + 20) { V.tip(null); return; }
      V.tip(e, [[t("token"), V.tokenText(set().k, i)], [t("weight"), state.values[i].toFixed(4)]]);
    });
    cv.canvas.addEventListener("mouseleave", function () { V.tip(null); });
    var last = V.plotWidth();
    window.addEventListener("resize", function () { if (V.plotWidth() !== last) { last = V.plotWidth(); draw(); } });
  });
})();
