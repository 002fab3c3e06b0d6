// @ts-check
/* mkdocs-attnviz head view (after bertviz's): tokens in two columns, a line per (query, key) whose opacity
 * is the attention weight, coloured by head. Hover a token to see only its lines (and the weight each head
 * gives on the other side); click a head's swatch to toggle it, double-click to show it alone; switch
 * layers, attention sets and (sentence pairs) the A→A / A→B / B→A / B→B filter. Drawn on one canvas,
 * lines batched by head and opacity, so it stays fast at 200 tokens. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas;
  if (!V) return;
  var data = V.data, H = V.H;
  var state = { set: data.set, layer: data.layer, filter: data.filter, hover: null, lines: 0,
                heads: typeof data.head === "number" ? [data.head] : Array.from({ length: H }, function (_, h) { return h; }) };
  var decoded = null;  // Uint8Array of the current layer
  var cv = null, geo = null;

  function set() { return data.sets[state.set]; }
  function hasPair(s) { return s.square && s.q.segments.indexOf(1) >= 0; }

  // --- controls
  var t = V.t;
  V.select(t("layer"), "attnviz-layer", V.layerOptions(), state.layer, function (v) { state.layer = v; load(); });
  V.setSelect(state.set, function (v) { state.set = v; state.hover = null; buildFilter(); load(); });
  var filterWrap = document.createElement("span");
  V.controls.appendChild(filterWrap);
  function buildFilter() {
    filterWrap.textContent = "";
    if (!hasPair(set())) { state.filter = "all"; return; }
    V.select(t("filter"), "attnviz-filter", [["all", t("all")], ["aa", "A → A"], ["ab", "A → B"], ["ba", "B → A"], ["bb", "B → B"]],
             state.filter, function (v) { state.filter = v; draw(); }, filterWrap);
  }
  buildFilter();

  var swatches = [];
  var label = document.createElement("span");
  label.textContent = t("heads_label");
  V.toolbar.appendChild(label);
  for (var h = 0; h < H; h++) (function (h) {
    var b = document.createElement("span");
    b.className = "attnviz-swatch";
    b.tabIndex = 0;
    b.setAttribute("role", "button");
    b.setAttribute("data-head", String(h));
    b.title = t("head_toggle", { head: h });
    var i = document.createElement("i");
    i.style.background = V.headColor(h);
    b.appendChild(i);
    b.appendChild(document.createTextNode(String(h)));
    b.addEventListener("click", function () { toggle(h); });
    b.addEventListener("dblclick", function () { state.heads = [h]; draw(); });
    b.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(h); } });
    V.toolbar.appendChild(b);
    swatches.push(b);
  })(h);
  function toggle(h) {
    var i = state.heads.indexOf(h);
    if (i >= 0) state.heads.splice(i, 1); else { state.heads.push(h); state.heads.sort(function (a, b) { return a - b; }); }
    draw();
  }

  // --- geometry
  function rowPx(n) { return Math.max(6, Math.min(22, Math.floor(1800 / Math.max(n, 1)))); }  // same as pages._row_px

  function layout() {
    var s = set(), n = Math.max(s.nq, s.nk), row = rowPx(n), font = Math.max(6, Math.min(12, row - 3));
    var width = V.plotWidth(), top = 26;
    var probe = cv ? cv.ctx : document.createElement("canvas").getContext("2d");
    probe.font = V.font(font);
    var longest = 0;
    s.q.ticks.concat(s.k.ticks).forEach(function (t) { longest = Math.max(longest, probe.measureText(t).width); });
    var labelW = Math.min(170, Math.ceil(longest) + 10);
    var gapW = Math.max(120, Math.min(420, width - 2 * labelW - 40));
    var xL = Math.round((width - gapW) / 2), xR = xL + gapW;
    return { row: row, font: font, width: width, height: top + row * n + 10, top: top, xL: xL, xR: xR, labelW: labelW };
  }

  function y(i) { return geo.top + (i + 0.5) * geo.row; }

  function passes(q, k) {
    if (state.filter === "all") return true;
    var s = set(), a = s.q.segments[q] === 1 ? "b" : "a", b = s.k.segments[k] === 1 ? "b" : "a";
    return a + b === state.filter;
  }

  function draw() {
    if (!decoded) return;
    var s = set(), c = V.common.theme.colors();
    geo = layout();
    if (!cv) cv = V.canvas(geo.width, geo.height); else V.resize(cv, geo.width, geo.height);
    var ctx = cv.ctx, nn = s.nq * s.nk, lines = 0;
    ctx.clearRect(0, 0, geo.width, geo.height);
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, geo.width, geo.height);
    swatches.forEach(function (b, h) { b.setAttribute("aria-pressed", state.heads.indexOf(h) >= 0 ? "true" : "false"); });

    // column headings, over the token columns, kept inside the canvas (a narrow frame: moved in, then smaller)
    var headL = t(state.set === "cross" ? "target_queries" : "queries_attending");
    var headR = t(state.set === "cross" ? "source_keys" : "keys_attended"), px = 11;
    ctx.font = V.font(px);
    while (px > 7 && ctx.measureText(headL).width + ctx.measureText(headR).width + 16 > geo.width) ctx.font = V.font(--px);
    ctx.fillStyle = c.muted;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    ctx.fillText(headL, Math.max(geo.xL - 6, Math.ceil(ctx.measureText(headL).width) + 4), 12);
    ctx.textAlign = "left";
    ctx.fillText(headR, Math.min(geo.xR + 6, geo.width - Math.ceil(ctx.measureText(headR).width) - 4), 12);

    // the lines: batched per head and per opacity step
    var hov = state.hover, steps = 20;
    ctx.lineWidth = hov ? 2 : 1.4;
    state.heads.forEach(function (h) {
      var buckets = [];
      for (var b = 0; b <= steps; b++) buckets.push([]);
      var off = h * nn;
      for (var q = 0; q < s.nq; q++) {
        if (hov && hov.side === "q" && hov.i !== q) continue;
        for (var k = 0; k < s.nk; k++) {
          if (hov && hov.side === "k" && hov.i !== k) continue;
          var w = V.weight(decoded[off + q * s.nk + k]);
          if (w < 0.01 || !passes(q, k)) continue;
          buckets[Math.round(w * steps)].push(q, k);
        }
      }
      ctx.strokeStyle = V.headColor(h);
      for (var bi = 1; bi <= steps; bi++) {
        var pts = buckets[bi];
        if (!pts.length) continue;
        ctx.globalAlpha = Math.min(1, bi / steps * (hov ? 1 : 0.9));
        ctx.beginPath();
        for (var p = 0; p < pts.length; p += 2) {
          ctx.moveTo(geo.xL + 4, y(pts[p]));
          ctx.lineTo(geo.xR - 4, y(pts[p + 1]));
        }
        ctx.stroke();
        lines += pts.length / 2;
      }
    });
    ctx.globalAlpha = 1;

    // with a hovered token: each head's weight as a coloured box beside the tokens on the other side
    if (hov) {
      var other = hov.side === "q" ? s.nk : s.nq, boxW = Math.max(2, Math.min(8, 60 / Math.max(state.heads.length, 1)));
      for (var j = 0; j < other; j++) {
        state.heads.forEach(function (h, hi) {
          var q = hov.side === "q" ? hov.i : j, k = hov.side === "q" ? j : hov.i;
          var w = V.weight(decoded[h * nn + q * s.nk + k]);
          if (!passes(q, k) || w <= 0) return;
          ctx.globalAlpha = Math.min(1, 0.15 + w);
          ctx.fillStyle = V.headColor(h);
          var x = hov.side === "q" ? geo.xR + 2 + hi * boxW : geo.xL - 2 - (hi + 1) * boxW;
          ctx.fillRect(x, y(j) - geo.row / 2 + 1, boxW - 1, geo.row - 2);
        });
      }
      ctx.globalAlpha = 1;
    }

    // the pair boundary
    if (hasPair(s)) {
      var b0 = s.q.segments.indexOf(1);
      ctx.strokeStyle = "#ff4040";
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(geo.xL - geo.labelW, geo.top + b0 * geo.row);
      ctx.lineTo(geo.xL, geo.top + b0 * geo.row);
      ctx.moveTo(geo.xR, geo.top + b0 * geo.row);
      ctx.lineTo(geo.xR + geo.labelW, geo.top + b0 * geo.row);
      ctx.stroke();
      ctx.setLineDash([]);
    }

    // the token labels
    ctx.font = V.font(geo.font);
    var labelsOn = geo.row >= 8;
    [["q", s.q, s.nq, geo.xL - 6, "right"], ["k", s.k, s.nk, geo.xR + 6, "left"]].forEach(function (col) {
      ctx.textAlign = col[4];
      for (var i = 0; i < col[2]; i++) {
        var active = hov && hov.side === col[0] && hov.i === i;
        if (!labelsOn && !active && i % Math.ceil(8 / geo.row) !== 0) continue;
        ctx.fillStyle = active ? c.accent : (col[1].special[i] ? c.muted : c.fg);
        ctx.font = V.font(geo.font, active);
        var xoff = hov && hov.side !== col[0] ? (col[0] === "k" ? 1 : -1) * (Math.min(8, 60 / Math.max(state.heads.length, 1)) * state.heads.length + 2) : 0;
        ctx.fillText(col[1].ticks[i], col[3] + xoff, y(i));
      }
    });
    state.lines = lines;
    var f = { all: [], aa: ["A → A"], ab: ["A → B"], ba: ["B → A"], bb: ["B → B"] }[state.filter];
    V.setTitle("title_heads", [data.who].concat(V.setPart(state.set), [V.layerText(state.layer),
               t("heads_shown", { count: state.heads.length, total: H })], f));
    V.ready({ view: "heads", set: state.set, layer: state.layer, heads: state.heads.slice(), filter: state.filter,
              hover: hov, lines: lines });
  }

  function load() {
    V.busy();
    return V.guard(V.layer(state.set, state.layer).then(function (u8) { decoded = u8; draw(); }));
  }

  function hit(event) {
    if (!geo) return null;
    var r = cv.canvas.getBoundingClientRect(), x = event.clientX - r.left, yy = event.clientY - r.top, s = set();
    var i = Math.floor((yy - geo.top) / geo.row);
    if (x < geo.xL + 8 && x > geo.xL - geo.labelW - 70 && i >= 0 && i < s.nq) return { side: "q", i: i };
    if (x > geo.xR - 8 && x < geo.xR + geo.labelW + 70 && i >= 0 && i < s.nk) return { side: "k", i: i };
    return null;
  }

  function onMove(event) {
    var hv = hit(event), old = state.hover;
    if ((hv && old && hv.side === old.side && hv.i === old.i) || (!hv && !old)) { if (hv) tipFor(event, hv); return; }
    state.hover = hv;
    draw();
    if (hv) tipFor(event, hv); else V.tip(null);
  }

  function tipFor(event, hv) {
    var s = set(), nn = s.nq * s.nk, other = hv.side === "q" ? s.k : s.q, count = hv.side === "q" ? s.nk : s.nq;
    var scores = [];
    for (var j = 0; j < count; j++) {
      var q = hv.side === "q" ? hv.i : j, k = hv.side === "q" ? j : hv.i, sum = 0;
      if (!passes(q, k)) continue;
      state.heads.forEach(function (h) { sum += V.weight(decoded[h * nn + q * s.nk + k]); });
      scores.push([j, sum / Math.max(state.heads.length, 1)]);
    }
    scores.sort(function (a, b) { return b[1] - a[1]; });
    var rows = [[t(hv.side === "q" ? "query" : "key"), V.tokenText(hv.side === "q" ? s.q : s.k, hv.i)]];
    scores.slice(0, 5).forEach(function (sc, r) {
      rows.push([r === 0 ? t(hv.side === "q" ? "attends_to" : "attended_by") : "", other.labels[sc[0]] + "  " + sc[1].toFixed(3)]);
    });
    rows.push([t("heads"), state.heads.length === H ? t("mean_of_all", { total: H }) : t("mean_of_list", { heads: state.heads.join(", ") })]);
    V.tip(event, rows);
  }

  V.common.theme.onChange(function () { draw(); });
  V.downloads(function () {
    if (!decoded) return null;
    var s = set(), m = V.headMatrix(decoded, state.set, "mean", state.heads);
    return { name: "attention-" + state.set + "-layer" + state.layer + "-heads-" + (state.heads.length === H ? "mean" : state.heads.join("_")),
             rows: s.q.labels, cols: s.k.labels, value: function (r, c) { return m[r * s.nk + c]; },
             meta: { who: data.who, text: data.text, pair: data.pair, set: state.set, layer: state.layer,
                     heads: state.heads, aggregation: "mean over the heads listed", rows_are: "query tokens",
                     cols_are: "key tokens" } };
  });

  // a live figure (attnviz-live.js) replaced the payload's sets: the lines again
  window.Attnviz.reload = function () { state.set = data.set; state.hover = null; buildFilter(); return load(); };
  load().then(function () {
    cv.canvas.addEventListener("mousemove", onMove);
    cv.canvas.addEventListener("mouseleave", function () { if (state.hover) { state.hover = null; draw(); } V.tip(null); });
    var last = V.plotWidth();
    window.addEventListener("resize", function () { if (V.plotWidth() !== last) { last = V.plotWidth(); draw(); } });
  });
  window.Attnviz.handle = { state: state, hover: function (side, i) { state.hover = side ? { side: side, i: i } : null; draw(); } };
})();
