// @ts-check
/* mkdocs-attnviz: a figure from the keyboard and for screen readers. Loaded after the view's script; it adds
 * nothing to the page but Attnviz.keys (what it is walking now: {kind: "cells" | "heads", at()}).
 *
 * The heatmap (Attnviz.cell / Attnviz.layout, view-heatmap.js): a focusable element over the Bokeh plot
 * (role="application", after the controls in the tab order); the arrow keys walk the cells (across the tiles of
 * small multiples), Home / End go to the first / last key of the row, Ctrl+Home / Ctrl+End to the first / last
 * cell; a frame marks the current cell and a live region says "query → key: weight". The picture redrawn (another
 * layer or head: the "attnviz:drawn" event) keeps the position and says the new weight.
 *
 * The model view and the head summary (Attnviz.handle: select, state, box): the same kind of element over their
 * grid of layers × heads; the arrow keys choose a head, Enter or Space enlarges / opens it. */
(function () {
  "use strict";

  var A = window.Attnviz, C = A && A.core;
  var root = document.querySelector(".attnviz");
  if (!C || !A.data || !root) return;
  var t = C.t, data = A.data;
  var heads = A.handle;
  if (heads && typeof heads.box === "function") { headGrid(heads); return; }
  if (typeof A.cell !== "function" || typeof A.layout !== "function") return;
  var cellOf = A.cell, layoutOf = A.layout, frameOf = A.frame;

  var live = document.createElement("div");
  live.id = "attnviz-live";
  live.className = "attnviz-sr";
  live.setAttribute("aria-live", "polite");
  live.setAttribute("aria-atomic", "true");

  var grid = document.createElement("div");
  grid.id = "attnviz-cells";
  grid.className = "attnviz-cells";
  grid.tabIndex = 0;
  grid.setAttribute("role", "application");
  grid.setAttribute("aria-label", t("cells_help"));
  var cursor = document.createElement("div");
  cursor.className = "attnviz-cursor";
  cursor.hidden = true;
  grid.appendChild(cursor);
  var plot = document.getElementById("attnviz-plot");
  root.insertBefore(grid, plot);  // after the controls in the tab order, before what Bokeh puts in the plot
  root.appendChild(live);

  var row = 0, col = 0;  // the current cell, counted over the tiles: row = tile row × n + query
  A.keys = { kind: "cells", at: function () { var w = where(); return w && { tile: w.tile, q: w.q, k: w.k }; } };

  /** @param {Axis} side @param {number} i */
  function token(side, i) {
    var label = side.labels[i];
    return (label === "" ? "∅" : label) + " #" + i;
  }

  function where() {  // {lay, tile, q, k} of the current cell, or null before the first draw
    var lay = layoutOf();
    if (!lay) return null;
    var tile = Math.floor(row / lay.n) * lay.cols + Math.floor(col / lay.n);
    return { lay: lay, tile: tile, q: row % lay.n, k: col % lay.n };
  }

  function weightText(cell) {
    if (cell.masked) return t("masked_word");
    if (isNaN(cell.w)) return "–";
    if (cell.block > 1) return t("block_max", { value: cell.w.toFixed(3), size: cell.block });
    return cell.w.toFixed(3);
  }

  function say() {
    var at = where(), cell = at && cellOf(at.q, at.k, at.tile);
    if (!cell) return;
    var axis = data.sets[data.set];  // read each time: a live figure (attnviz-live.js) may have replaced it
    var text = t("cell_said", { query: token(axis.q, cell.q), key: token(axis.k, cell.k), weight: weightText(cell) });
    if (at.lay.tiles > 1) {
      var head = typeof cell.head === "number" ? t("head_n", { head: cell.head }) : t(cell.head);
      text = t("layer_n", { layer: cell.layer }) + t("sep") + head + ": " + text;
    }
    live.textContent = text;
  }

  function place() {
    var f = frameOf ? frameOf() : null, at = where();
    if (!f || !at) return;  // not drawn yet: placed on focus
    grid.style.left = (f.x + window.scrollX) + "px";
    grid.style.top = (f.y + window.scrollY) + "px";
    grid.style.width = f.width + "px";
    grid.style.height = f.height + "px";
    var lay = at.lay, n1 = lay.n + lay.gap;
    var x = (at.tile % lay.cols) * n1 + at.k, y = Math.floor(at.tile / lay.cols) * n1 + at.q;
    var cw = f.width / (lay.x[1] - lay.x[0]), ch = f.height / (lay.y[0] - lay.y[1]);
    var left = (x - lay.x[0]) * cw, top = (y - lay.y[1]) * ch;
    cursor.hidden = document.activeElement !== grid || left + cw < 0 || top + ch < 0 || left > f.width ||
      top > f.height;
    cursor.style.left = left + "px";
    cursor.style.top = top + "px";
    cursor.style.width = Math.max(cw, 4) + "px";
    cursor.style.height = Math.max(ch, 4) + "px";
  }

  function move(r, c) {  // to (r, c) if it is a cell of a drawn tile
    var lay = layoutOf();
    if (!lay) return;
    var rows = Math.ceil(lay.tiles / lay.cols) * lay.n, cols = lay.cols * lay.n;
    r = Math.max(0, Math.min(rows - 1, r));
    c = Math.max(0, Math.min(cols - 1, c));
    if (Math.floor(r / lay.n) * lay.cols + Math.floor(c / lay.n) >= lay.tiles) return;
    row = r;
    col = c;
  }

  grid.addEventListener("keydown", function (e) {
    var lay = layoutOf();
    if (!lay) return;
    var last = lay.n - 1, rowStart = col - col % lay.n;
    var moves = {
      ArrowUp: [row - 1, col], ArrowDown: [row + 1, col], ArrowLeft: [row, col - 1], ArrowRight: [row, col + 1],
      Home: e.ctrlKey ? [0, 0] : [row, rowStart], End: e.ctrlKey ? [Infinity, Infinity] : [row, rowStart + last]
    };
    var to = has(moves, e.key) ? moves[e.key] : null;
    if (!to) return;
    e.preventDefault();
    if (e.ctrlKey && e.key === "End") {  // the last cell of the last tile
      var tile = lay.tiles - 1;
      to = [Math.floor(tile / lay.cols) * lay.n + last, (tile % lay.cols) * lay.n + last];
    }
    move(to[0], to[1]);
    place();
    say();
  });
  grid.addEventListener("focus", function () { place(); say(); });
  grid.addEventListener("blur", function () { cursor.hidden = true; });
  document.addEventListener("attnviz:drawn", function () {
    // Bokeh's figure is focusable but does nothing with keys: the cells stand for it in the tab order
    Array.prototype.forEach.call(plot.querySelectorAll("[tabindex]"), function (el) { el.tabIndex = -1; });
    move(row, col);
    if (where() && where().tile >= where().lay.tiles) { row = 0; col = 0; }
    place();
    if (document.activeElement === grid) say();
  });
  window.addEventListener("resize", place);

  // -------------------------------------------------------------------- the model view, the head summary
  /** @param {{select: (l: number, h: number) => any, state: {selected: number[] | null},
   *   box: (l: number, h: number) => ({x: number, y: number, w: number, h: number} | null)}} P */
  function headGrid(P) {
    var L = data.num_layers, H = data.num_heads, l = L - 1, h = 0;
    var live = element("div", "attnviz-live", "attnviz-sr");
    live.setAttribute("aria-live", "polite");
    live.setAttribute("aria-atomic", "true");
    var grid = element("div", "attnviz-cells", "attnviz-cells");
    A.keys = { kind: "heads", at: function () { return { layer: l, head: h }; } };
    grid.tabIndex = 0;
    grid.setAttribute("role", "application");
    grid.setAttribute("aria-label", t("heads_help"));
    var cursor = element("div", "", "attnviz-cursor");
    cursor.hidden = true;
    grid.appendChild(cursor);
    var plot = document.getElementById("attnviz-plot");
    root.insertBefore(grid, plot);
    root.appendChild(live);
    function place() {
      var first = P.box(0, 0), last = P.box(L - 1, H - 1), at = P.box(l, h);
      if (!first || !last || !at) return;
      var x0 = first.x + window.scrollX, y0 = first.y + window.scrollY;
      grid.style.left = x0 + "px";
      grid.style.top = y0 + "px";
      grid.style.width = (last.x + last.w - first.x) + "px";
      grid.style.height = (last.y + last.h - first.y) + "px";
      cursor.style.left = (at.x - first.x) + "px";
      cursor.style.top = (at.y - first.y) + "px";
      cursor.style.width = at.w + "px";
      cursor.style.height = at.h + "px";
      cursor.hidden = document.activeElement !== grid;
    }
    function say() {
      var selected = P.state.selected, open = selected && selected[0] === l && selected[1] === h;
      live.textContent = t("layer_n", { layer: l }) + t("sep") + t("head_n", { head: h }) +
        (open ? t("sep") + t(data.view === "model" ? "enlarged" : "opened", { layer: l, head: h }) : "");
    }
    grid.addEventListener("keydown", function (e) {
      var moves = { ArrowUp: [l - 1, h], ArrowDown: [l + 1, h], ArrowLeft: [l, h - 1], ArrowRight: [l, h + 1],
                    Home: e.ctrlKey ? [0, 0] : [l, 0], End: e.ctrlKey ? [L - 1, H - 1] : [l, H - 1] };
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        Promise.resolve(P.select(l, h)).then(function () { place(); say(); });
        return;
      }
      var to = has(moves, e.key) ? moves[e.key] : null;
      if (!to) return;
      e.preventDefault();
      l = Math.max(0, Math.min(L - 1, to[0]));
      h = Math.max(0, Math.min(H - 1, to[1]));
      place();
      say();
    });
    grid.addEventListener("focus", function () { place(); say(); });
    grid.addEventListener("blur", function () { cursor.hidden = true; });
    window.addEventListener("resize", place);
  }

  /** @param {Object<string, any>} o @param {string} key */
  function has(o, key) { return Object.prototype.hasOwnProperty.call(o, key); }

  /** @param {string} tag @param {string} id @param {string} className */
  function element(tag, id, className) {
    var el = document.createElement(tag);
    if (id) el.id = id;
    el.className = className;
    return el;
  }
})();
