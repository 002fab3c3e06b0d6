// @ts-check
/* mkdocs-attnviz model view (after bertviz's): a layers × heads grid of thumbnails (each one head's
 * query × key heatmap on its own colour scale, future positions of causal models in grey); click a
 * thumbnail to enlarge it below the grid with token labels and a hover tooltip. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas, M = window.Attnviz.matrix;
  if (!V || !M) return;
  var data = V.data, H = V.H, L = V.L;
  var state = { set: data.set, selected: null };
  var layers = null, grid = null, detail = null, geo = null, detailGeo = null;
  var MASK = [208, 208, 208];

  V.setSelect(state.set, function (v) { state.set = v; state.selected = null; load(); });
  var legend = document.createElement("span");
  var t = V.t;
  legend.textContent = t("model_legend");
  V.toolbar.appendChild(legend);

  function set() { return data.sets[state.set]; }

  // an (nq × nk) image of one head, on a canvas of its own size
  function headImage(l, h) {
    var s = set(), nn = s.nq * s.nk, u8 = layers[l], off = h * nn, top = 0, i;
    for (i = 0; i < nn; i++) if (u8[off + i] > top) top = u8[off + i];
    var img = new ImageData(s.nk, s.nq);
    for (var q = 0; q < s.nq; q++) for (var k = 0; k < s.nk; k++) {
      var p = (q * s.nk + k) * 4, rgb;
      if (s.causal && k > q) rgb = MASK;
      else rgb = V.rgb(V.paletteColor(u8[off + q * s.nk + k], top));
      img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255;
    }
    var c = document.createElement("canvas");
    c.width = s.nk; c.height = s.nq;
    c.getContext("2d").putImageData(img, 0, 0);
    return { canvas: c, top: V.weight(top) };
  }

  function drawGrid() {
    var s = set(), c = V.common.theme.colors(), width = V.plotWidth();
    var left = 54, topPad = 20, gap = 4;
    var thumb = Math.max(28, Math.min(84, Math.floor((width - left - 10) / H) - gap));
    var tw = thumb, th = Math.max(12, Math.round(thumb * Math.min(1.5, s.nq / s.nk)));
    geo = { left: left, top: topPad, gap: gap, tw: tw, th: th };
    var w = left + H * (tw + gap) + 6, h = topPad + L * (th + gap) + 4;
    if (!grid) grid = V.canvas(w, h); else V.resize(grid, w, h);
    var ctx = grid.ctx;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = c.muted;
    ctx.font = V.font(10);
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    for (var hh = 0; hh < H; hh++) ctx.fillText(t("head_n", { head: hh }), left + hh * (tw + gap) + tw / 2, 9);
    ctx.textAlign = "right";
    for (var l = 0; l < L; l++) {
      ctx.fillStyle = c.muted;
      ctx.fillText(t("layer_n", { layer: l }), left - 6, topPad + l * (th + gap) + th / 2);
      for (hh = 0; hh < H; hh++) {
        var x = left + hh * (tw + gap), y = topPad + l * (th + gap);
        ctx.imageSmoothingEnabled = s.nk > tw;  // shrink smoothly, enlarge as crisp cells
        ctx.drawImage(headImage(l, hh).canvas, x, y, tw, th);
        if (state.selected && state.selected[0] === l && state.selected[1] === hh) {
          ctx.strokeStyle = c.accent;
          ctx.lineWidth = 2.5;
          ctx.strokeRect(x - 1.5, y - 1.5, tw + 3, th + 3);
        }
      }
    }
  }

  function drawDetail() {  // the selected head, enlarged: one labelled matrix (attnviz-matrix.js)
    var s = set(), c = V.common.theme.colors();
    if (!state.selected) {
      if (detail) { detail.canvas.remove(); detail = null; }
      return;
    }
    var l = state.selected[0], h = state.selected[1], img = headImage(l, h), m = V.headMatrix(layers[l], state.set, h);
    var width = V.plotWidth(), top = img.top > 0 ? img.top : 1;
    var o = { nq: s.nq, nk: s.nk, qTicks: s.q.ticks, kTicks: s.k.ticks, low: 0, high: top, bar: false,
              value: function (q, k) { return m[q * s.nk + k]; }, colors: M.scale(data.palette, 0, top),
              masked: function (q, k) { return s.causal && k > q; },
              title: t("enlarged_head", { layer: l, head: h, weight: img.top.toFixed(3) }) };
    var box = Math.min(width, 720), hgt = M.size(grid.ctx, box, o).height;
    if (!detail) detail = V.canvas(width, hgt); else V.resize(detail, width, hgt);
    detail.ctx.fillStyle = c.bg;
    detail.ctx.fillRect(0, 0, width, hgt);
    detailGeo = M.draw(detail, 0, 0, box, o);
  }

  function draw() {
    drawGrid();
    drawDetail();
    var what = data.i18n.fused_heads ? [V.layerText("all"), data.i18n.fused_heads] : [t("layers_heads", { layers: L, heads: H })];
    var sel = state.selected ? [t("enlarged", { layer: state.selected[0], head: state.selected[1] })] : [];
    V.setTitle("title_model", [data.who].concat(V.setPart(state.set), what, sel));
    V.ready({ view: "model", set: state.set, selected: state.selected });
  }

  function load() {
    V.busy();
    var all = [];
    for (var l = 0; l < L; l++) all.push(V.layer(state.set, l));
    return V.guard(Promise.all(all).then(function (u8s) { layers = u8s; draw(); }));
  }

  function thumbAt(event) {
    var r = grid.canvas.getBoundingClientRect(), x = event.clientX - r.left - geo.left, y = event.clientY - r.top - geo.top;
    var h = Math.floor(x / (geo.tw + geo.gap)), l = Math.floor(y / (geo.th + geo.gap));
    if (x < 0 || y < 0 || h >= H || l >= L || x - h * (geo.tw + geo.gap) > geo.tw || y - l * (geo.th + geo.gap) > geo.th) return null;
    return [l, h];
  }

  function select(l, h) {
    state.selected = (state.selected && state.selected[0] === l && state.selected[1] === h) ? null : [l, h];
    draw();
  }

  V.common.theme.onChange(function () { if (layers) draw(); });
  V.downloads(function () {
    if (!layers) return null;
    var s = set(), sel = state.selected || [L - 1, "mean"];
    var m = V.headMatrix(layers[sel[0]], state.set, sel[1]);
    return { name: "attention-" + state.set + "-layer" + sel[0] + "-head" + sel[1], rows: s.q.labels, cols: s.k.labels,
             value: function (r, c) { return m[r * s.nk + c]; },
             meta: { who: data.who, text: data.text, set: state.set, layer: sel[0], head: sel[1],
                     rows_are: "query tokens", cols_are: "key tokens" } };
  });

  // a live figure (attnviz-live.js) replaced the payload's sets: every layer's thumbnails again
  window.Attnviz.reload = function () { state.set = data.set; return load(); };
  load().then(function () {
    grid.canvas.style.cursor = "pointer";
    grid.canvas.addEventListener("click", function (e) { var th = thumbAt(e); if (th) select(th[0], th[1]); });
    grid.canvas.addEventListener("mousemove", function (e) {
      var th = thumbAt(e);
      V.tip(th ? e : null, th ? [[t("layer"), String(th[0])], [t("head"), String(th[1])], ["", t("click_enlarge")]] : null);
    });
    grid.canvas.addEventListener("mouseleave", function () { V.tip(null); });
    V.plot.addEventListener("mousemove", function (e) {
      if (!detail || e.target !== detail.canvas) return;
      var s = set(), qk = detailGeo.at(e);
      if (!qk) { V.tip(null); return; }
      var q = qk[0], k = qk[1];
      var w = V.weight(layers[state.selected[0]][state.selected[1] * s.nq * s.nk + q * s.nk + k]);
      V.tip(e, [[t("query"), V.tokenText(s.q, q)], [t("key"), V.tokenText(s.k, k)],
                [t("weight"), s.causal && k > q ? t("masked_short") : w.toFixed(3)]]);
    });
  });
  window.Attnviz.handle = { select: select, state: state,
    box: function (l, h) {  // the viewport rectangle of a thumbnail (attnviz-keys.js)
      if (!grid || !geo) return null;
      var r = grid.canvas.getBoundingClientRect();
      return { x: r.left + geo.left + h * (geo.tw + geo.gap), y: r.top + geo.top + l * (geo.th + geo.gap), w: geo.tw, h: geo.th };
    } };
})();
