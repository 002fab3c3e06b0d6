// @ts-check
/* mkdocs-attnviz: the shared part of the canvas views (bars, heads, model, neuron, summary, compare), on the client
 * core (attnviz-common.js): sizes canvases for the screen's pixel ratio, shows the floating tooltip, and hands the
 * core's tools, bound to this page's payload, to the view's own script as Attnviz.canvas. */
(function () {
  "use strict";

  var A = window.Attnviz, C = A.core;
  var data = C.payload();
  if (!data || !C.canDecode()) {
    A.canvas = null;
    return;
  }
  var tipEl = document.getElementById("attnviz-tip");
  var plotEl = document.getElementById("attnviz-plot");
  var controlsEl = document.getElementById("attnviz-controls");
  var toolbarEl = document.getElementById("attnviz-toolbar");
  var H = data.num_heads, L = data.num_layers;
  var fail = C.fail, t = C.t;

  /** weights of layer l of set s: Promise<Uint8Array> of (heads, nq, nk) @param {string} s @param {number} l */
  function layer(s, l) { return C.layer(data.sets[s], s, l, H); }

  /** (nq*nk) floats of one head, the mean or the max over the heads (or over the heads in `only`)
   * @param {Uint8Array} u8 @param {string} s @param {number|string} head @param {number[]=} only */
  function headMatrix(u8, s, head, only) {
    var set = data.sets[s];
    return C.matrix(u8, set.nq * set.nk, H, head, only);
  }

  // float32 (heads, n, d) vectors of the neuron view
  function vectors(which, l) {
    return C.bytes('script[data-qk="' + which + '"][data-layer="' + l + '"]').then(function (u8) {
      return new Float32Array(u8.buffer, u8.byteOffset, u8.byteLength / 4);
    });
  }

  // ---------------------------------------------------------------------------------------- controls
  function select(label, id, options, initial, onChange, into) {
    return C.select(label, id, options, initial, onChange, into || controlsEl);
  }
  function layerOptions() { return C.layerOptions(L); }
  function headOptions(extra) { return C.headOptions(H, extra); }
  function setSelect(initial, onChange) {
    var names = Object.keys(data.sets);
    if (names.length < 2) return null;
    return select(t("attention_set"), "attnviz-set", names.map(function (s) { return [s, setName(s)]; }), initial, onChange);
  }
  // ------------------------------------------------------------------------------------------ canvas
  function canvas(width, height, into) {
    var c = document.createElement("canvas"), dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    c.style.width = width + "px";
    c.style.height = height + "px";
    var ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    (into || plotEl).appendChild(c);
    return { canvas: c, ctx: ctx, width: width, height: height };
  }

  function resize(cv, width, height) {
    var dpr = window.devicePixelRatio || 1;
    cv.canvas.width = Math.round(width * dpr);
    cv.canvas.height = Math.round(height * dpr);
    cv.canvas.style.width = width + "px";
    cv.canvas.style.height = height + "px";
    cv.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    cv.width = width;
    cv.height = height;
  }

  function plotWidth() { return Math.max(320, plotEl.clientWidth || document.documentElement.clientWidth || 640); }

  // ----------------------------------------------------------------------------------------- colours
  var HEAD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                     "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173"];
  function headColor(h) { return HEAD_COLORS[h % HEAD_COLORS.length]; }
  function paletteColor(v, top) {
    var p = data.palette, i = Math.max(0, Math.min(p.length - 1, Math.floor((top > 0 ? v / top : 0) * (p.length - 1) + 0.5)));
    return p[i];
  }
  function rgb(hex) { return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)]; }

  // ----------------------------------------------------------------------------------------- tooltip
  function tip(event, rows) {
    if (!rows) { tipEl.hidden = true; return; }
    tipEl.textContent = "";
    var table = document.createElement("table");
    rows.forEach(function (r) {
      var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
      th.textContent = r[0];
      td.textContent = r[1];
      tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
    });
    tipEl.appendChild(table);
    tipEl.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14, w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, event.clientX - w - 10);
    if (y + h > window.innerHeight - 4) y = Math.max(4, event.clientY - h - 10);
    tipEl.style.left = x + "px";
    tipEl.style.top = y + "px";
  }

  // a view's title: the template `key` ("Bar chart: {description}") filled with the parts (who, layer, heads...)
  // and the notes, joined in the figure's language; or, with one argument, the text as it is
  function setTitle(key, parts) {
    C.setTitle(parts === undefined ? key : t(key, { description: parts.concat(data.i18n.notes || []).join(t("sep")) }));
  }

  function layerText(l) { return C.layerText(l, L); }
  function headText(h) { return C.headText(h, H); }
  // the attention set (encoder-decoder models), as the title names it: "" for a model with one set
  function setName(s) { return (data.i18n.sets || {})[s] || s; }
  function setPart(s) { return Object.keys(data.sets).length > 1 ? [setName(s)] : []; }

  var lastState = null;
  function ready(state) {
    document.documentElement.setAttribute("data-attnviz-view", JSON.stringify(state));
    lastState = state;
    A.ready = true;
    C.done();  // the next figure of the host page may draw
  }

  function guard(promise) {
    return promise.catch(function (err) {
      console.error("attnviz:", err);
      fail(t("cannot_draw_view", { error: err.message }));
    });
  }

  A.state = function () { return lastState; };
  function busy() { A.ready = false; }  // a view's new choice is being drawn
  A.canvas = {
    data: data, H: H, L: L, layer: layer, headMatrix: headMatrix, vectors: vectors, select: select,
    layerOptions: layerOptions, headOptions: headOptions, setSelect: setSelect, canvas: canvas, resize: resize,
    plotWidth: plotWidth, headColor: headColor, paletteColor: paletteColor, rgb: rgb, tip: tip, tokenText: C.tokenText, busy: busy, font: C.font,
    setTitle: setTitle, layerText: layerText, headText: headText, setName: setName, setPart: setPart, t: t,
    ready: ready, guard: guard, fail: fail, weight: C.weight,
    plot: plotEl, toolbar: toolbarEl, controls: controlsEl, common: C,
    downloads: function (provider) { C.downloads(document.getElementById("attnviz-downloads"), provider); }
  };
})();
