// @ts-check
/* mkdocs-attnviz heatmap page: what only Bokeh needs. The client core (attnviz-common.js, loaded first) reads the
 * payload, builds the controls, decodes the layers and writes the title; this script fills the Bokeh document (no
 * server, no fetch) with the matrix chosen, its ticks, mask, values and tooltip.
 *
 * A long input (data.side) has no layer in the page: each layer and head (and the mean / max over the heads) is a
 * side file loaded when first shown (AttnvizCommon.side). Beyond a few thousand tokens the page first shows an
 * overview (the largest weight of each block of data.side.factor² tokens); zooming (Bokeh's box zoom, or the two
 * token inputs) into at most data.side.detail tokens loads the full matrix and draws the visible cells one by one,
 * with the labels of the visible tokens. */
(function () {
  "use strict";

  var A = window.Attnviz, C = A.core, fail = C.fail, t = C.t;
  /** @type {Payload & {gap: number, values: boolean, boundary: number|null, bokehjs: any, doc?: any, side?: any}} */
  var data = /** @type {any} */ (C.payload());
  if (!data || !C.canDecode()) return;
  var S = data.sets[data.set], axis = S.q;
  var n = S.nq, L = data.num_layers, H = data.num_heads, gap = data.gap, long = data.side || null;

  // the controls: a layer and a head (a long input: one at a time, and the tokens shown)
  var controls = document.getElementById("attnviz-controls");
  var layerSelect = C.select(t("layer"), "attnviz-layer", C.layerOptions(L, !long), data.layer, redraw, controls);
  var headSelect = C.select(t("head"), "attnviz-head", C.headOptions(H, long ? ["mean", "max"] : ["mean", "max", "all"]),
                            data.head, redraw, controls);
  if (long) {
    var zoomLabel = document.createElement("label");
    zoomLabel.className = "attnviz-control attnviz-zoom";
    zoomLabel.appendChild(document.createTextNode(t("tokens") + " "));
    [["attnviz-from", 0, n - 1, 0, "first_token"], ["attnviz-to", 1, n, n, "last_token"]].forEach(function (z, i) {
      var input = document.createElement("input");
      input.id = String(z[0]);
      input.type = "number";
      input.min = String(z[1]); input.max = String(z[2]); input.step = "1"; input.value = String(z[3]);
      input.setAttribute("aria-label", t(String(z[4])));
      if (i) zoomLabel.appendChild(document.createTextNode("–"));
      zoomLabel.appendChild(input);
    });
    controls.appendChild(zoomLabel);
  }

  // The Bokeh document: in the page, or a file of the site shared by the heatmaps of one colour map, language and
  // pair/no pair (attnviz-doc-<id>.js), whose sentinel numbers become this figure's (data.doc.numbers).
  function fill(node, numbers) {
    if (Array.isArray(node)) {
      for (var i = 0; i < node.length; i++) node[i] = fill(node[i], numbers);
    } else if (node && typeof node === "object") {
      Object.keys(node).forEach(function (k) { node[k] = fill(node[k], numbers); });
    } else if (typeof node === "number" && Object.prototype.hasOwnProperty.call(numbers, String(node))) {
      return numbers[String(node)];
    }
    return node;
  }
  function bokehDocument() {
    if (!data.doc) return JSON.parse(document.getElementById("attnviz-bokeh").textContent);
    var doc = (A.docs || {})[data.doc.id];
    if (!doc) throw new Error("attnviz-doc-" + data.doc.id + ".js did not load");
    return fill(doc, data.doc.numbers);
  }

  // ---------------------------------------------------------------- data: lazy per-layer decoding
  function layerBytes(l) { return C.layer(S, data.set, l, H); }
  function headMatrix(u8, head) { return C.matrix(u8, n * n, H, head); }

  // ------------------------------------------------------------------- layout of the small multiples
  function tilesFor(layer, head) {
    var tiles = [], l, h, cols;
    if (layer === "all" && head === "all") {
      for (l = 0; l < L; l++) for (h = 0; h < H; h++) tiles.push([l, h]);
      return { rows: L, cols: H, tiles: tiles, both: true };
    }
    if (layer === "all") { for (l = 0; l < L; l++) tiles.push([l, head]); }
    else if (head === "all") { for (h = 0; h < H; h++) tiles.push([layer, h]); }
    else return { rows: 1, cols: 1, tiles: [[layer, head]], both: false };
    cols = Math.ceil(Math.sqrt(tiles.length));
    return { rows: Math.ceil(tiles.length / cols), cols: cols, tiles: tiles, both: false };
  }

  function layerText(layer) { return C.layerText(layer, L); }
  function headText(head) { return C.headText(head, H); }
  function describe(layer, head) { return C.describe(data.who, layer, head, L, H, data.hidden); }  // as the title
  function headName(h) { return typeof h === "number" ? String(h) : t(h); }

  // ------------------------------------------------------------------------------ the Bokeh models
  var models = null;   // filled once the document is embedded
  var view = null;     // what is drawn now: {layer, head, grid, W, Hh, at: (row, column) -> weight, values: cells' numbers}
  var ndarray = null;

  // The document's image is RGBA: the page maps weights to colours itself, by Bokeh's LinearColorMapper rule on the
  // mapper's own palette, low and high (so the cells and the colour bar agree); a NaN (a masked cell, a gap between
  // tiles) is transparent, as the mapper's nan_color was. Bokeh's mapping took most of a switch to many tiles.
  var paletteRGBA = null;
  function palette() {
    if (!paletteRGBA) {
      var pal = models.mapper.palette, bytes = new Uint8Array(pal.length * 4);
      for (var p = 0; p < pal.length; p++) {
        var hex = String(pal[p]);
        bytes[4 * p] = parseInt(hex.slice(1, 3), 16); bytes[4 * p + 1] = parseInt(hex.slice(3, 5), 16);
        bytes[4 * p + 2] = parseInt(hex.slice(5, 7), 16); bytes[4 * p + 3] = 255;
      }
      paletteRGBA = new Uint32Array(bytes.buffer);  // the bytes R, G, B, A in memory: Bokeh's layout on any machine
    }
    return paletteRGBA;
  }
  function colours(img, high) {
    // Bokeh: key = floor(((d - low) * norm) / (1 / N)); with low 0 and N 256 (a power of two: dividing by 1 / N is
    // multiplying by N, exactly) that is (d * norm * N) truncated, for every d >= 0 (a key below 0 is P[0] either way)
    var P = palette(), N = P.length, maxKey = N - 1, norm = 1 / high, last = P[maxKey], size = img.length;
    var out = new Uint32Array(size);
    for (var i = 0; i < size; i++) {
      var d = img[i];
      if (d !== d) continue;  // NaN: 0, transparent
      var key = (d * norm * N) | 0;
      out[i] = d === high || key > maxKey ? last : key < 0 ? P[0] : P[key];
    }
    return out;
  }

  function asImage(img, height, width, high) {
    return asRGBA(colours(img, high), height, width);
  }
  function asRGBA(flat, height, width) {
    if (ndarray) return ndarray(flat, { dtype: "uint32", shape: [height, width] });
    var rows = [];
    for (var r = 0; r < height; r++) rows.push(Array.prototype.slice.call(flat.subarray(r * width, (r + 1) * width)));
    return rows;
  }

  var tickLabels = { x: new Map(), y: new Map() };
  A.tickLabel = function (which, tick) {  // the tick formatter of the Bokeh document calls it
    var label = tickLabels[which].get(tick);
    return label === undefined ? "" : label;
  };

  function niceStep(needed) {  // 1, 2, 5, 10, 20, 50... (the PNG's rule: toolkit.mpl.nice_step)
    for (var base = 1; ; base *= 10) {
      if (base >= needed) return base;
      if (2 * base >= needed) return 2 * base;
      if (5 * base >= needed) return 5 * base;
    }
  }

  function updateTicks() {
    if (!models || !view) return;
    var fig = models.figure, xr = models.xrange, yr = models.yrange;
    var iw = fig.inner_width || (document.documentElement.clientWidth - 160);
    var ih = fig.inner_height || (models.plotHeight - 120);
    var xs = [], ys = [], xl = new Map(), yl = new Map(), i, t, step;
    if (view.grid.tiles.length === 1) {
      var spanX = Math.abs(xr.end - xr.start) || n, spanY = Math.abs(yr.end - yr.start) || n;
      var wx = long ? visible(xr) : [0, n], wy = long ? visible(yr) : [0, n];
      step = niceStep(17 / Math.max(iw / spanX, 0.01));
      for (i = Math.ceil(wx[0] / step) * step; i < wx[1]; i += step) { t = i + 0.5; xs.push(t); xl.set(t, axis.ticks[i]); }
      step = niceStep(14 / Math.max(ih / spanY, 0.01));
      for (i = Math.ceil(wy[0] / step) * step; i < wy[1]; i += step) { t = i + 0.5; ys.push(t); yl.set(t, axis.ticks[i]); }
    } else if (view.grid.both) {
      step = niceStep(40 / Math.max(iw / view.grid.cols, 0.01));
      for (i = 0; i < view.grid.cols; i += step) { t = i * (n + gap) + n / 2; xs.push(t); xl.set(t, C.t("head_n", { head: i })); }
      step = niceStep(16 / Math.max(ih / view.grid.rows, 0.01));
      for (i = 0; i < view.grid.rows; i += step) { t = i * (n + gap) + n / 2; ys.push(t); yl.set(t, C.t("layer_n", { layer: i })); }
    }
    tickLabels.x = xl;
    tickLabels.y = yl;
    var same = function (a, b) { return a.length === b.length && a.every(function (v, j) { return v === b[j]; }); };
    if (!same(models.xticker.ticks, xs)) models.xticker.ticks = xs;
    if (!same(models.yticker.ticks, ys)) models.yticker.ticks = ys;
    showValues();
  }

  // ------------------------------------------------------------------------- long inputs: side files
  function visible(r) {  // [first, last + 1) token of a range, clamped
    return [Math.max(0, Math.floor(Math.min(r.start, r.end))), Math.min(n, Math.ceil(Math.max(r.start, r.end)))];
  }

  var lastDetail = null;  // past the overview, one full matrix is kept (it may be tens of MB)
  function sideBytes(layer, head, overview) {
    var id = "l" + layer + "." + head + (overview ? ".o" : ""), size = overview ? long.m * long.m : n * n;
    if (long.factor > 1 && !overview) {
      if (lastDetail && lastDetail !== id) C.forget(lastDetail);
      lastDetail = id;
    }
    return C.side(id, long.prefix + "." + id + ".js").then(function (u8) {
      if (u8.length !== size) throw new Error(id + ": expected " + size + " bytes, got " + u8.length);
      return u8;
    });
  }

  // the overview, the whole matrix, or (zoomed into at most long.detail tokens) the visible cells of the full one
  function drawLong(layer, head) {
    var f = long.factor, wx = visible(models.xrange), wy = visible(models.yrange);
    var detail = f > 1 && view && wx[1] - wx[0] <= long.detail && wy[1] - wy[0] <= long.detail;
    var jobs = [sideBytes(layer, head, f > 1)];
    if (detail) jobs.push(sideBytes(layer, head, false));
    return Promise.all(jobs).then(function (got) {
      var base = got[0], top = 0, i, r, c, img, W, Hh, x0 = 0, y0 = 0, scale = detail ? 1 : f;
      for (i = 0; i < base.length; i++) if (base[i] > top) top = base[i];
      top = C.weight(top);
      if (detail) {
        x0 = wx[0]; y0 = wy[0]; W = wx[1] - wx[0]; Hh = wy[1] - wy[0];
        img = new Float32Array(W * Hh);
        for (r = 0; r < Hh; r++) for (c = 0; c < W; c++) img[r * W + c] = C.weight(got[1][(y0 + r) * n + x0 + c]);
      } else {
        W = Hh = f > 1 ? long.m : n;
        img = new Float32Array(W * Hh);
        for (i = 0; i < W * Hh; i++) img[i] = C.weight(base[i]);
      }
      if (S.causal) {  // blocks wholly in the future of a causal model: masked (hatched), not zero
        for (r = 0; r < Hh; r++) for (c = 0; c < W; c++) {
          if (x0 + c * scale > y0 + r * scale + scale - 1) img[r * W + c] = NaN;
        }
      }
      var first = !view;
      view = { layer: layer, head: head, grid: tilesFor(layer, head), W: W, Hh: Hh, at: at(img, W), x0: x0, y0: y0,
               scale: scale, detail: detail };
      if (first) {
        models.xrange.setv({ start: 0, end: n, reset_start: 0, reset_end: n });
        models.yrange.setv({ start: n, end: 0, reset_start: n, reset_end: 0 });
      }
      var high = top > 0 ? top : 1;
      models.mapper.setv({ low: 0, high: high });
      if (models.mask && first) {
        var st = S.causal && n > 1 ? staircase(0, 0) : null;
        models.mask.data = st ? { xs: [st[0]], ys: [st[1]] } : { xs: [], ys: [] };
      }
      models.source.data = { image: [asImage(img, Hh, W, high)], x: [x0], y: [y0], dw: [W * scale], dh: [Hh * scale] };
      finish(layer, head);
    });
  }

  var zoomTimer = null;
  function onZoom() {  // keep the token inputs in step; past the overview's limit, redraw the visible cells
    var w = visible(models.xrange);
    var fromEl = /** @type {HTMLInputElement} */ (document.getElementById("attnviz-from"));
    var toEl = /** @type {HTMLInputElement} */ (document.getElementById("attnviz-to"));
    if (fromEl && document.activeElement !== fromEl) fromEl.value = String(w[0]);
    if (toEl && document.activeElement !== toEl) toEl.value = String(w[1]);
    if (long.factor === 1 || !view) return;
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(function () {
      var wx = visible(models.xrange), wy = visible(models.yrange);
      var wanted = wx[1] - wx[0] <= long.detail && wy[1] - wy[0] <= long.detail;
      var covered = view.detail && wx[0] >= view.x0 && wy[0] >= view.y0 && wx[1] <= view.x0 + view.W &&
        wy[1] <= view.y0 + view.Hh;
      if (wanted !== view.detail || (wanted && !covered)) redraw();
    }, 120);
  }

  function zoomTo(a, b) {  // show tokens a..b-1 on both axes
    a = Math.max(0, Math.min(n - 1, Math.floor(a)));
    b = Math.max(a + 1, Math.min(n, Math.ceil(b)));
    models.xrange.setv({ start: a, end: b });
    models.yrange.setv({ start: b, end: a });
  }

  // what every draw ends with: title, ticks, the state tests and benchmarks read
  function finish(layer, head) {
    C.setTitle(describe(layer, head));
    updateTicks();
    document.documentElement.setAttribute("data-attnviz-view", layer + "/" + head);
    A.ready = true;
    document.dispatchEvent(new CustomEvent("attnviz:drawn"));  // attnviz-keys.js follows the picture
  }

  function draw(layer, head) {
    if (long) return drawLong(layer, head);
    var grid = tilesFor(layer, head);
    var needed = [];
    grid.tiles.forEach(function (t) { if (needed.indexOf(t[0]) < 0) needed.push(t[0]); });
    return Promise.all(needed.map(layerBytes)).then(function (decoded) {
      var byLayer = {};
      needed.forEach(function (l, j) { byLayer[l] = decoded[j]; });
      var single = grid.tiles.length === 1;
      var W = single ? n : grid.cols * n + (grid.cols - 1) * gap;
      var Hh = single ? n : grid.rows * n + (grid.rows - 1) * gap;
      // small multiples (of single heads, or of every layer's mean or max of heads): coloured from their integer
      // planes (a head's bytes, the sum or the largest of a layer's bytes) through a table of colours; weights read
      // from them on demand (hover, CSV)
      var direct = !single && grid.tiles.every(function (t) { return typeof t[1] === "number" || t[1] === "mean" || t[1] === "max"; });
      var img = direct ? null : new Float32Array(W * Hh), top = 0, labelsX = [], labelsY = [], labelsText = [];
      var maskXs = [], maskYs = [], rgba = null, planes = null, q, j;
      if (img && !single) img.fill(NaN);
      var keep = keepRange && view !== null && view.W === W && view.Hh === Hh;  // a zoomed-in redraw
      keepRange = false;
      var step = direct ? tileStep(W, Hh, keep) : [1, 1], sx = step[0], sy = step[1];
      if (direct) {
        planes = grid.tiles.map(function (t) { return plane(byLayer[t[0]], t[1]); });
        planes.forEach(function (p) { top = Math.max(top, p.weight(largest(p.src, p.base))); });
        var luts = {};
        planes.forEach(function (p) { p.lut = luts[p.kind] || (luts[p.kind] = planeColours(p, top > 0 ? top : 1)); });
        // 0: transparent (the gaps, the future of a causal model)
        rgba = new Uint32Array(Math.ceil(W / sx) * Math.ceil(Hh / sy));
        sampleTiles(rgba, W, Hh, sx, sy, grid, planes);
      }
      grid.tiles.forEach(function (t, k) {
        var r = Math.floor(k / grid.cols), c = k % grid.cols, x0 = c * (n + gap), y0 = r * (n + gap);
        if (!direct) {
          var m = headMatrix(byLayer[t[0]], t[1]);
          for (q = 0; q < n; q++) {
            var iOff = (y0 + q) * W + x0, mOff = q * n;
            for (j = 0; j < n; j++) {
              var v = m[mOff + j];
              img[iOff + j] = v;
              if (v > top) top = v;
            }
          }
          if (S.causal && n > 1) for (q = 0; q < n; q++) for (j = q + 1; j < n; j++) img[(y0 + q) * W + x0 + j] = NaN;
        }
        if (S.causal && n > 1) {  // the future of a causal model: masked (hatched), not zero
          var st = staircase(x0, y0);
          maskXs.push(st[0]); maskYs.push(st[1]);
        }
        if (!single && !grid.both) {
          labelsX.push(x0); labelsY.push(y0);
          labelsText.push(layer === "all" ? C.t("layer_n", { layer: t[0] }) : C.t("head_n", { head: t[1] }));
        }
      });
      view = { layer: layer, head: head, grid: grid, W: W, Hh: Hh, at: direct ? tileValue(grid, planes, W) : at(img, W),
               values: single && data.values ? cellValues(img, top) : null, step: direct ? step : null };
      var xr = models.xrange, yr = models.yrange;
      if (!keep) {
        // widen the bounds first: Range1d clamps start/end to the bounds in force
        xr.setv({ bounds: [0, Math.max(W, xr.end, xr.start)] });
        yr.setv({ bounds: [0, Math.max(Hh, yr.end, yr.start)] });
        xr.setv({ start: 0, end: W, reset_start: 0, reset_end: W });
        yr.setv({ start: Hh, end: 0, reset_start: Hh, reset_end: 0 });
        xr.setv({ bounds: [0, W] });
        yr.setv({ bounds: [0, Hh] });
      }
      var high = top > 0 ? top : 1;
      models.mapper.setv({ low: 0, high: high });
      models.tiles.data = { x: labelsX, y: labelsY, text: labelsText };
      if (models.mask) models.mask.data = { xs: maskXs, ys: maskYs };
      showValues();
      models.source.data = { image: [rgba ? asRGBA(rgba, Math.ceil(Hh / sy), Math.ceil(W / sx))
                                          : asImage(img, Hh, W, high)], x: [0], y: [0], dw: [W], dh: [Hh] };
      models.xaxis.axis_label = C.t(single ? "key_tokens" : (grid.both ? "key_tokens_heads" : "key_tokens_tile"));
      models.yaxis.axis_label = C.t(single ? "query_tokens" : (grid.both ? "query_tokens_layers" : "query_tokens_tile"));
      finish(layer, head);
    });
  }

  // the largest value of the (n × n) plane at `off` (a causal model's future is masked: not its top)
  /** @param {Uint8Array | Uint16Array | Uint32Array} u @param {number} off @returns {number} */
  function largest(u, off) {
    var most = 0, causal = S.causal;
    for (var q = 0; q < n; q++) {
      var end = off + q * n + (causal ? q + 1 : n);
      for (var j = off + q * n; j < end; j++) if (u[j] > most) most = u[j];
    }
    return most;
  }
  var TOP_BYTE = 255;  // the largest packed byte (uint8), whatever the payload's scale
  // A tile's integer plane: a head's own bytes (at its offset in the layer's), or the sum (mean) or the largest
  // (max) of the layer's heads, cell by cell, with the weight of a value (what C.matrix gives: a float32) and the
  // kind of colour table it takes
  /** @param {Uint8Array} u8 a layer's bytes @param {number|string} head
   * @returns {{src: Uint8Array | Uint16Array | Uint32Array, base: number, kind: string, weight: function(number): number, lut?: Uint32Array}} */
  function plane(u8, head) {
    var nn = n * n;
    if (typeof head === "number") return { src: u8, base: head * nn, kind: "byte", weight: C.weight };
    var out = H * TOP_BYTE < 65536 ? new Uint16Array(nn) : new Uint32Array(nn), h, i, off, m;
    if (head === "max") {
      for (i = 0; i < nn; i++) {
        for (m = 0, h = 0, off = i; h < H; h++, off += nn) if (u8[off] > m) m = u8[off];
        out[i] = m;
      }
      return { src: out, base: 0, kind: "byte", weight: C.weight };
    }
    for (i = 0; i < nn; i++) {  // cell by cell, the heads' bytes summed in a local (faster than head by head)
      for (m = 0, h = 0, off = i; h < H; h++, off += nn) m += u8[off];
      out[i] = m;
    }
    var per = data.scale * H;
    return { src: out, base: 0, kind: "sum", weight: function (v) { return Math.fround(v / per); } };
  }
  // the colour of every value a plane of this kind can hold (256 bytes, or 255·H + 1 sums), by colours() itself
  function planeColours(p, high) {
    var size = p.kind === "byte" ? TOP_BYTE + 1 : TOP_BYTE * H + 1, weights = new Float32Array(size);
    for (var v = 0; v < size; v++) weights[v] = p.weight(v);
    return colours(weights, high);
  }
  // Small multiples far wider than the plot (12 × 12 heads of 200 tokens: 2,400 cells across ~800 screen pixels):
  // their image is made at the screen's resolution, one cell in `step` along each axis (what drawing the full
  // image into the canvas shows anyway: nearest cells, no smoothing), and made again, sharper, when the reader
  // zooms in (onTileZoom). Hover, the table and the downloads read every cell (view.at).
  /** @param {number} W @param {number} Hh @param {boolean} zoomed the reader's range (else the whole image)
   * @returns {number[]} the steps across and down */
  function tileStep(W, Hh, zoomed) {
    var fig = models.figure, xr = models.xrange, yr = models.yrange, dpr = window.devicePixelRatio || 1;
    var iw = (fig.inner_width || (document.documentElement.clientWidth - 160)) * dpr;
    var ih = (fig.inner_height || (models.plotHeight - 120)) * dpr;
    var spanX = zoomed ? Math.min(W, Math.abs(xr.end - xr.start) || W) : W;
    var spanY = zoomed ? Math.min(Hh, Math.abs(yr.end - yr.start) || Hh) : Hh;
    return [Math.max(1, Math.floor(spanX / Math.max(iw, 1))), Math.max(1, Math.floor(spanY / Math.max(ih, 1)))];
  }
  // the cells (r·sy, c·sx) of the tiles (every cell at step 1), coloured through `lut` into `rgba` (ceil(W/sx)
  // wide; the gaps and a causal model's future stay 0: transparent)
  /** @param {Uint32Array} rgba @param {number} W @param {number} Hh @param {number} sx @param {number} sy
   * @param {any} grid @param {any[]} planes the tiles' (plane(), with its colour table) */
  function sampleTiles(rgba, W, Hh, sx, sy, grid, planes) {
    var Ws = Math.ceil(W / sx), Hs = Math.ceil(Hh / sy), n1 = n + gap, causal = S.causal;
    var first = new Int32Array(grid.cols + 1), keys = new Int32Array(Ws), c, tc = 0;
    for (c = 0; c < Ws; c++) {  // each drawn column: its key token; the drawn columns of tile column tc
      var x = c * sx;
      while (tc < grid.cols && x >= (tc + 1) * n1) first[++tc] = c;
      keys[c] = x - tc * n1;  // >= n: a gap
    }
    for (tc++; tc <= grid.cols; tc++) first[tc] = Ws;
    for (var r = 0; r < Hs; r++) {
      var y = r * sy, tr = Math.floor(y / n1), q = y - tr * n1, out = r * Ws;
      if (q >= n) continue;  // a gap between tile rows
      for (tc = 0; tc < grid.cols; tc++) {
        var t = tr * grid.cols + tc;
        if (t >= grid.tiles.length) break;
        var p = planes[t], src = p.src, lut = p.lut, base = p.base + q * n, end = first[tc + 1];
        for (c = first[tc]; c < end; c++) {
          var k = keys[c];
          if (k < n && !(causal && k > q)) rgba[out + c] = lut[src[base + k]];
        }
      }
    }
  }
  var tileTimer = 0, keepRange = false;
  function onTileZoom() {  // zoomed in (or out) past the image's resolution: make it again at the new step
    if (!view || !view.step || long) return;
    clearTimeout(tileTimer);
    tileTimer = setTimeout(function () {
      var want = view && view.step ? tileStep(view.W, view.Hh, true) : null;
      if (want && (want[0] !== view.step[0] || want[1] !== view.step[1])) { keepRange = true; redraw(); }
    }, 120);
  }

  // the weight at row r, column c of what is drawn (NaN: a gap, a masked cell)
  function at(img, W) { return function (r, c) { return img[r * W + c]; }; }
  function tileValue(grid, planes, W) {
    var n1 = n + gap;
    return function (r, c) {
      var tr = Math.floor(r / n1), tc = Math.floor(c / n1), q = r - tr * n1, k = c - tc * n1, t = tr * grid.cols + tc;
      if (q >= n || k >= n || c >= W || t >= grid.tiles.length || (S.causal && k > q)) return NaN;
      var p = planes[t];
      return p.weight(p.src[p.base + q * n + k]);
    };
  }

  // outline of the cells with key > query of the tile at (x0, y0) (the PNG's shape: views.heatmap.staircase)
  function staircase(x0, y0) {
    var xs = [x0 + 1, x0 + n], ys = [y0, y0];
    for (var q = n - 2; q >= 0; q--) { xs.push(x0 + q + 2, x0 + q + 1); ys.push(y0 + q + 1, y0 + q + 1); }
    return [xs, ys];
  }

  // the numbers in the cells, while a cell is wide and tall enough for one ("0.58" in 9 px type: a narrow frame,
  // or a view zoomed out, shows none rather than numbers running into each other)
  var NO_VALUES = { x: [], y: [], text: [], color: [] }, VALUE_WIDTH = 22, VALUE_HEIGHT = 11;
  /** @type {any} */
  var valuesShown = null;
  function showValues() {
    if (!models || !models.values || !view) return;
    var fig = models.figure, xr = models.xrange, yr = models.yrange;
    var cw = (fig.inner_width || 0) / (Math.abs(xr.end - xr.start) || n);
    var ch = (fig.inner_height || 0) / (Math.abs(yr.end - yr.start) || n);
    var want = view.values && cw >= VALUE_WIDTH && ch >= VALUE_HEIGHT ? view.values : NO_VALUES;
    if (valuesShown !== want) { valuesShown = want; models.values.data = want; }
  }

  // the numbers written in the cells (values option): dark text on bright cells, light on dark ones
  function cellValues(img, top) {
    var out = { x: [], y: [], text: [], color: [] };
    for (var q = 0; q < n; q++) for (var k = 0; k < n; k++) {
      var v = img[q * n + k];
      if (isNaN(v)) continue;
      out.x.push(k + 0.5); out.y.push(q + 0.5); out.text.push(v.toFixed(2));
      out.color.push(v > 0.6 * top ? "#000000" : "#ffffff");
    }
    return out;
  }

  function restyle(t) {
    if (!models) return;
    var c = C.theme.colors(), dark = t === "dark";
    models.figure.setv({ background_fill_color: c.bg, border_fill_color: c.bg });
    [models.xaxis, models.yaxis].forEach(function (a) {
      a.setv({ major_label_text_color: c.fg, axis_label_text_color: c.fg, major_tick_line_color: c.muted });
    });
    if (models.colorbar) models.colorbar.setv({ background_fill_color: c.bg, major_label_text_color: c.fg,
      title_text_color: c.fg, major_tick_line_color: c.muted });
    if (models.masked) models.masked.glyph.setv({ fill_color: dark ? "#3a3d4c" : "#d0d0d0",
      hatch_color: dark ? "#6a6e80" : "#9a9a9a" });
  }

  // the matrix shown, for the CSV / JSON downloads (one tile; for small multiples the first tile)
  function blockLabels(start, count, scale) {  // a long input's drawn rows/columns: tokens, or blocks "a–b"
    var out = [];
    for (var i = 0; i < count; i++) {
      var a = start + i * scale, b = Math.min(n, a + scale) - 1;
      out.push(scale === 1 ? axis.labels[a] : a + "–" + b);
    }
    return out;
  }

  function shownMatrix() {
    if (!view) return null;
    var t = view.grid.tiles[0], single = view.grid.tiles.length === 1;
    return {
      name: "attention-layer" + t[0] + "-head" + t[1],
      rows: long ? blockLabels(view.y0, view.Hh, view.scale) : axis.labels,
      cols: long ? blockLabels(view.x0, view.W, view.scale) : axis.labels,
      value: function (r, c) { return view.at(r, c); },
      meta: { who: data.who, model: data.model, text: data.text, pair: data.pair, layer: t[0], head: t[1],
              view: single ? "heatmap" : C.t("first_tile", { layers: layerText(view.layer), heads: headText(view.head) }),
              rows_are: "query tokens", cols_are: "key tokens", causal: S.causal }
    };
  }

  // ------------------------------------------------------------------------------------- tooltip
  function cellAt(x, y) {
    if (!view) return null;
    if (long) {
      var kk = Math.floor(x), qq = Math.floor(y), cc = Math.floor((kk - view.x0) / view.scale);
      var rr = Math.floor((qq - view.y0) / view.scale);
      if (kk < 0 || qq < 0 || kk >= n || qq >= n) return null;
      var inside = cc >= 0 && rr >= 0 && cc < view.W && rr < view.Hh;
      return { q: qq, k: kk, layer: view.layer, head: view.head, w: inside ? view.at(rr, cc) : NaN,
               masked: S.causal && kk > qq, block: view.scale };
    }
    var n1 = n + gap, c = 0, r = 0, xi = x, yi = y;
    if (view.grid.tiles.length > 1) {
      c = Math.floor(x / n1); r = Math.floor(y / n1);
      xi = x - c * n1; yi = y - r * n1;
    }
    var k = Math.floor(xi), q = Math.floor(yi), t = r * view.grid.cols + c;
    if (k < 0 || q < 0 || k >= n || q >= n || c < 0 || c >= view.grid.cols || t >= view.grid.tiles.length) return null;
    if (S.causal && k > q) return { q: q, k: k, layer: view.grid.tiles[t][0], head: view.grid.tiles[t][1], w: NaN, masked: true };
    var ix = c * n1 + k, iy = r * n1 + q;
    return { q: q, k: k, layer: view.grid.tiles[t][0], head: view.grid.tiles[t][1], w: view.at(iy, ix) };
  }

  function tokenText(i) {  // the token as every view names it, and its raw form where the label differs
    var raw = axis.tokens[i];
    return { main: C.tokenText(axis, i), raw: raw !== axis.labels[i] ? raw : null };
  }

  function tooltip(_ds, vars) {
    var cell = cellAt(vars.x, vars.y);
    if (!cell) return null;
    var box = document.createElement("div");
    box.className = "attnviz-tip";
    box.style.cssText = "font:12px/1.35 " + C.FONT + ";";
    var table = document.createElement("table");
    table.style.borderCollapse = "collapse";
    function row(name, value, extra) {
      var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
      th.textContent = name;
      th.style.cssText = "text-align:right;font-weight:normal;color:#666;padding:0 6px 0 0;white-space:nowrap;vertical-align:top";
      td.textContent = value;
      td.style.cssText = "padding:0;max-width:22em;overflow-wrap:anywhere";
      if (extra) {
        var span = document.createElement("span");
        span.textContent = "  " + extra;
        span.style.color = "#6b6b6b";
        td.appendChild(span);
      }
      tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
    }
    var qt = tokenText(cell.q), kt = tokenText(cell.k);
    row(t("query"), qt.main, qt.raw);
    row(t("key"), kt.main, kt.raw);
    row(t("weight"), cell.masked ? t("masked") : isNaN(cell.w) ? "–" : cell.block > 1 ?
        t("block_max", { value: cell.w.toFixed(3), size: cell.block }) : cell.w.toFixed(3));
    row(t("layer"), cell.layer === L - 1 ? t("last", { layer: cell.layer }) : String(cell.layer));
    row(t("head"), headName(cell.head));
    box.appendChild(table);
    return box;
  }

  // --------------------------------------------------------------------------------------- start
  function current() { return [C.parseChoice(layerSelect.value), C.parseChoice(headSelect.value)]; }

  function redraw() {
    if (!models) return Promise.resolve();  // the first draw comes once the Bokeh document is in the page
    var c = current();
    return draw(c[0], c[1]).catch(function (err) {
      console.error("attnviz:", err);
      fail(t("cannot_draw_view", { error: err.message }));
    });
  }

  // what the heatmap shows, for the host page (e.g. screenshots of the plot area) and the tests
  A.view = function () {
    return view && { layer: view.layer, head: view.head, width: view.W, height: view.Hh, max: models.mapper.high,
                     step: view.step || [1, 1],
                     x0: view.x0 || 0, y0: view.y0 || 0, scale: view.scale || 1, detail: !!view.detail,
                     ticks: models.xticker.ticks.length };
  };
  // a live figure (attnviz-live.js) replaced the payload's sets (Attnviz.core.provide/restore): draw them
  A.reload = function () {
    S = data.sets[data.set]; axis = S.q; n = S.nq;
    view = null;
    return redraw();
  };
  A.zoom = function (a, b) { zoomTo(a, b); };  // tokens a..b-1 on both axes (a long input's token inputs do this)
  // the cell of query q and key k in tile `tile` (attnviz-keys.js walks the cells): {q, k, layer, head, w, masked}
  A.cell = function (q, k, tile) {
    if (!view) return null;
    var cols = view.grid.cols, n1 = n + gap;
    return cellAt((long ? 0 : (tile % cols) * n1) + k + 0.5, (long ? 0 : Math.floor(tile / cols) * n1) + q + 0.5);
  };
  // the tiles drawn and the visible ranges of the plot (x: keys, y: queries, in cells)
  A.layout = function () {
    return view && { tiles: view.grid.tiles.length, cols: view.grid.cols, n: n, gap: long ? 0 : gap,
                     x: [models.xrange.start, models.xrange.end], y: [models.yrange.start, models.yrange.end] };
  };
  A.frame = function () {  // the heatmap's frame in viewport CSS px
    var pv = models && typeof Bokeh !== "undefined" && Bokeh.index[models.figure.id];
    if (!pv || !pv.frame) return null;
    var host = pv.el.getBoundingClientRect(), b = pv.frame.bbox;
    return { x: host.left + b.left, y: host.top + b.top, width: b.width, height: b.height };
  };

  C.bokeh(data.bokehjs).then(function () {
    try { ndarray = Bokeh.require("core/util/ndarray").ndarray; } catch (e) { ndarray = null; }
    return Bokeh.embed.embed_item(bokehDocument(), "attnviz-plot");
  }).then(function () {
    var doc = Bokeh.documents[Bokeh.documents.length - 1];
    function get(name) { return doc.get_model_by_name(name); }
    models = {
      figure: get("attnviz-figure"), source: get("attnviz-source"), mapper: get("attnviz-mapper"),
      tiles: get("attnviz-tiles"), hover: get("attnviz-hover"), xrange: get("attnviz-xrange"),
      yrange: get("attnviz-yrange"), xaxis: get("attnviz-xaxis"), yaxis: get("attnviz-yaxis"),
      xticker: get("attnviz-xticker"), yticker: get("attnviz-yticker"),
      mask: get("attnviz-mask"), values: get("attnviz-values"), masked: get("attnviz-masked"),
      colorbar: get("attnviz-colorbar"),
      plotHeight: document.getElementById("attnviz-plot").clientHeight
    };
    models.hover.tooltips = tooltip;
    C.theme.onChange(restyle);
    restyle(C.theme.init(data.theme));
    C.downloads(document.getElementById("attnviz-downloads"), shownMatrix);
    var onRange = function () { updateTicks(); if (long) onZoom(); else onTileZoom(); };
    if (long) {
      var zoomInputs = function () {
        zoomTo(parseInt(/** @type {HTMLInputElement} */ (document.getElementById("attnviz-from")).value, 10) || 0,
               parseInt(/** @type {HTMLInputElement} */ (document.getElementById("attnviz-to")).value, 10) || n);
      };
      document.getElementById("attnviz-from").addEventListener("change", zoomInputs);
      document.getElementById("attnviz-to").addEventListener("change", zoomInputs);
    }
    [models.xrange, models.yrange].forEach(function (r) {
      r.properties.start.change.connect(onRange);
      r.properties.end.change.connect(onRange);
    });
    // Bokeh sizes the frame after layout: recompute the tick thinning whenever the size changes.
    var lastSize = "";
    var checkSize = function () {
      var size = models.figure.inner_width + "x" + models.figure.inner_height;
      if (size !== lastSize) { lastSize = size; updateTicks(); }
    };
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { requestAnimationFrame(checkSize); }).observe(document.getElementById("attnviz-plot"));
    }
    return redraw().then(function () {
      C.done();  // the next figure of the host page may draw
      var tries = 0;
      (function poll() { checkSize(); if (++tries < 20) setTimeout(poll, 50); })();
    });
  }).catch(function (err) {
    console.error("attnviz:", err);
    fail(t("cannot_draw", { error: err.message }));
  });
})();
