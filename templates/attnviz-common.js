// @ts-check
/* mkdocs-attnviz: the client core every figure page runs first (the heatmap and every canvas view).
 *
 * The page's one global is window.Attnviz (attnviz-types.js declares its shape, and the page contract's):
 * Attnviz.core holds what every view uses —
 *   payload()     the page's #attnviz-data (a Payload); refuses a page of another contract version (VERSION)
 *   theme         light/dark: the `theme` option, else the embedding page's scheme (mkdocs-material's
 *                 data-md-color-scheme="slate" is dark; JupyterLab's data-jp-theme-light; VS Code's vscode-dark
 *                 body class) when the parent is same-origin, else prefers-color-scheme;
 *                 a `#theme=dark` fragment wins over both. Follows changes.
 *   bytes / side  decoded bytes of a packed block (base64 of zlib) or of a side file (a long input's layer and
 *                 head: the page's own data-side block if it has one, else a script element whose file calls
 *                 Attnviz.side — a script loads from file:// too, fetch does not), as a Promise<Uint8Array>
 *   layer / matrix / weight  one layer of an attention set checked for its size; one head, the mean or the max of
 *                 the heads as floats (divided by the payload's scale); one packed byte as a weight
 *   t / layerText / headText / describe  the figure's words in its language (the same phrases as texts.Texts)
 *   tokenText / parseChoice / select / layerOptions / headOptions / setTitle / font  controls, titles, labels
 *   downloads     CSV and JSON buttons that save the matrix shown, generated in the browser (Blob + a[download])
 *   fail / canDecode  the figure's message box; false where the browser lacks DecompressionStream
 *   turn / done   the figures of one host page (iframes of one origin share a thread) draw one at a time, the one
 *                 nearest the reader first; a figure alone, or under a parent of another origin, draws at once
 *   bokeh         Promise of BokehJS: in the page, the host page's copy (mkdocs_attnviz.inline), or data.bokehjs
 *   provide / restore  a live figure's sets and layers (the reader's sentence) in place of the page's, and back
 *   fit           the frame takes its content's height: measured here (ResizeObserver) and sent to the host
 *                 page (postMessage {attnviz: "height"}; the embed snippet's listener sets the iframe's height),
 *                 and set directly where the parent is of this origin (srcdoc, http)
 */
(function () {
  "use strict";

  /** @type {AttnvizNS} */
  var A = window.Attnviz = window.Attnviz || /** @type {AttnvizNS} */ ({});
  A.VERSION = 2;  // the page contract this script reads (mkdocs_attnviz.contract.VERSION)
  var FONT = "system-ui, \"Noto Sans CJK JP\", sans-serif";

  // ------------------------------------------------------------------------------------------- theme
  var listeners = [];
  var option = "auto";
  var current = null;

  function fragmentTheme() {
    var m = /(?:^#|[#&])theme=(light|dark)\b/.exec(window.location.hash || "");
    return m ? m[1] : null;
  }

  function parentTheme() {
    try {
      if (window.parent === window) return null;
      var body = window.parent.document && window.parent.document.body;
      if (!body) return null;
      var scheme = body.getAttribute("data-md-color-scheme");
      if (scheme) return scheme === "slate" || /dark/i.test(scheme) ? "dark" : "light";
      var jupyter = body.getAttribute("data-jp-theme-light");  // JupyterLab, Notebook 7
      if (jupyter === "true" || jupyter === "false") return jupyter === "true" ? "light" : "dark";
      var vscode = /(?:^|\s)vscode-(light|dark|high-contrast-light|high-contrast)(?:\s|$)/.exec(body.className || "");
      if (vscode) return /dark|high-contrast$/.test(vscode[1]) ? "dark" : "light";  // VS Code's notebook outputs
      var html = window.parent.document.documentElement;
      var t = html.getAttribute("data-theme") || html.getAttribute("data-bs-theme") || html.getAttribute("data-mode");
      if (t === "dark" || t === "light") return t;
      return null;
    } catch (e) {
      return null; // cross-origin parent (file:// iframes in Chromium): fall back to the media query
    }
  }

  function mediaTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function resolve() {
    if (option === "light" || option === "dark") return option;
    return fragmentTheme() || parentTheme() || mediaTheme();
  }

  function apply() {
    var t = resolve();
    if (t === current) return;
    current = t;
    document.documentElement.setAttribute("data-theme", t);
    listeners.forEach(function (cb) {
      try { cb(t); } catch (e) { console.error("attnviz:", e); }
    });
  }

  var watching = false;
  function watch() {
    if (watching) return;
    watching = true;
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) mq.addEventListener("change", apply);
    }
    window.addEventListener("hashchange", apply);
    try {
      if (window.parent !== window && window.parent.document && window.parent.document.body
          && typeof MutationObserver !== "undefined") {
        var obs = new MutationObserver(apply);
        obs.observe(window.parent.document.body, { attributes: true,
          attributeFilter: ["data-md-color-scheme", "data-jp-theme-light", "class"] });
        obs.observe(window.parent.document.documentElement, { attributes: true,
          attributeFilter: ["data-theme", "data-bs-theme", "data-mode"] });
      }
    } catch (e) { /* cross-origin: the media query listener is all we get */ }
  }

  var theme = {
    init: function (opt) { option = opt || "auto"; apply(); watch(); return current; },
    current: function () { return current || resolve(); },
    onChange: function (cb) { listeners.push(cb); },
    set: function (opt) { option = opt; apply(); },
    // colours the canvas views and the Bokeh plot use
    colors: function () {
      return current === "dark"
        ? { bg: "#1e2029", fg: "#e3e5ec", muted: "#9aa0b4", grid: "#3a3d4c", panel: "#262936", accent: "#7aa2ff" }
        : { bg: "#ffffff", fg: "#222222", muted: "#666666", grid: "#e4e4e4", panel: "#f5f5f7", accent: "#3355cc" };
    }
  };

  // --------------------------------------------------------------------------------------- downloads
  function csvField(v) {
    var s = String(v);
    if (/^[=+@\t\r]/.test(s) || /^-./.test(s)) s = "'" + s;  // never a spreadsheet formula
    return /[",\n\r]/.test(s) || s !== s.trim() ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function toCSV(m) {
    var lines = [[m.corner || "query \\ key"].concat(m.cols).map(csvField).join(",")];
    for (var r = 0; r < m.rows.length; r++) {
      var row = [csvField(m.rows[r])];
      for (var c = 0; c < m.cols.length; c++) {
        var v = m.value(r, c);
        row.push(v === null || isNaN(v) ? "" : (+v).toFixed(4));
      }
      lines.push(row.join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function toJSON(m) {
    var matrix = [];
    for (var r = 0; r < m.rows.length; r++) {
      var row = [];
      for (var c = 0; c < m.cols.length; c++) {
        var v = m.value(r, c);
        row.push(v === null || isNaN(v) ? null : Math.round(v * 1e4) / 1e4);
      }
      matrix.push(row);
    }
    var out = {};
    Object.keys(m.meta || {}).forEach(function (k) { out[k] = m.meta[k]; });
    out.rows = m.rows;
    out.cols = m.cols;
    out.matrix = matrix;
    return JSON.stringify(out, null, 1);
  }

  function save(text, name, type) {
    var url = URL.createObjectURL(new Blob([text], { type: type }));
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
  }

  // provider() -> {name, rows: [labels], cols: [labels], value(r, c), meta: {...}} of the matrix shown
  function downloads(container, provider) {
    if (!container) return;
    /** @type {Array<[string, string, (m: any) => string, string]>} */
    var kinds = [["CSV", "text/csv", toCSV, ".csv"], ["JSON", "application/json", toJSON, ".json"]];
    kinds.forEach(function (d) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "attnviz-download";
      b.textContent = d[0];
      b.title = t("download", { format: d[0] });
      b.setAttribute("data-format", d[0].toLowerCase());
      b.addEventListener("click", function () {
        var m = provider();
        if (!m) return;
        var text = d[2](m);
        A.lastDownload = { name: m.name + d[3], text: text };
        save(text, m.name + d[3], d[1]);
      });
      container.appendChild(b);
    });
  }

  // ------------------------------------------------------------------------------------------- data
  function base64Bytes(text) {
    var bin = atob(text.replace(/\s+/g, ""));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function inflate(text) {
    var stream = new Blob([base64Bytes(text)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) { return new Uint8Array(buf); });
  }

  var cache = {};
  function bytes(selector) {
    if (!cache[selector]) {
      var el = document.querySelector(selector);
      if (!el) return Promise.reject(new Error("no data block " + selector));
      cache[selector] = turn().then(function () { return inflate(el.textContent); });
    }
    return cache[selector];
  }

  // side files: id -> Promise<Uint8Array>; a loaded file calls Attnviz.side(id, base64)
  var sides = {}, waiting = {};
  A.side = function (id, text) {
    var done = waiting[id];
    delete waiting[id];
    if (done) done(text);
  };
  function side(id, url) {
    if (!sides[id]) {
      var block = document.querySelector('script[type="application/octet-stream"][data-side="' + id + '"]');
      if (block) {
        sides[id] = inflate(block.textContent);
      } else {
        sides[id] = new Promise(function (resolve, reject) {
          var el = document.createElement("script");
          waiting[id] = function (text) { el.remove(); resolve(inflate(text)); };
          el.onerror = function () {
            delete waiting[id];
            delete sides[id];
            el.remove();
            reject(new Error(t("side_missing", { file: url })));
          };
          el.src = url;
          document.head.appendChild(el);
        });
      }
    }
    return sides[id];
  }
  function forget(id) { delete sides[id]; }  // a big side file's bytes, no longer needed

  // ------------------------------------------------------------------------------------------- words
  var words = {};
  var has = function (o, k) { return Object.prototype.hasOwnProperty.call(o, k); };
  // the words of the figure's language (attnviz-texts.<lang>.js), then the figure's own (its counts, its notes)
  function texts(dict) {
    words = {};
    [A.words || {}, dict || {}].forEach(function (d) { Object.keys(d).forEach(function (k) { words[k] = d[k]; }); });
  }

  // the word of `key`, with {name} placeholders filled from `params`
  function t(key, params) {
    var s = has(words, key) ? String(words[key]) : key;
    if (!params) return s;
    return s.replace(/\{(\w+)\}/g, function (m, name) { return has(params, name) ? String(params[name]) : m; });
  }

  // The phrases below take the figure's own words (its counts, what the transforms did: Payload.i18n) from `own`
  // where a page shows two figures (a comparison's B), else from the page's.

  /** "layer 5 of 6 (last)", "all 6 layers", "rollout up to layer 5 of 6 (last)" (texts.Texts.layer)
   * @param {number|string} l @param {number} L @param {Object<string, any>=} own */
  function layerText(l, L, own) {
    var w = own || words;
    var text = l === "all" ? w.all_layers : t(l === L - 1 ? "layer_of_last" : "layer_of", { layer: l, total: L });
    if (w.aggregate_layer) {
      text = l === "all" ? w.aggregate_all.replace("{layers}", text) : w.aggregate_layer.replace("{layer}", text);
    }
    return text;
  }

  /** "head 3 of 12", "mean of 12 heads"...; the fused heads of rollout/flow (texts.Texts.head)
   * @param {number|string} h @param {number} H @param {Object<string, any>=} own */
  function headText(h, H, own) {
    var w = own || words;
    if (w.fused_heads) return w.fused_heads;
    if (h === "all" || h === "mean" || h === "max") return w[h + "_heads"];
    return t("head_of", { head: h, total: H });
  }

  /** who, the layer, the heads, then the notes (texts.Texts.selection)
   * @param {string} who @param {number|string} layer @param {number|string} head @param {number} L @param {number} H
   * @param {boolean=} hidden @param {Object<string, any>=} own */
  function describe(who, layer, head, L, H, hidden, own) {
    var parts = [who, layerText(layer, L, own), headText(head, H, own)];
    if (hidden) parts.push(words.hidden);
    return parts.concat((own || words).notes || []).join(words.sep || ", ");
  }


  // ------------------------------------------------------------------------------------------- turns
  // The queue lives in the host page (window.__attnvizTurns): {busy: the iframe drawing, since, win, waiting}.
  // Every figure runs the same code on it; a turn held by an iframe that left the page (instant navigation),
  // was reloaded, or held it longer than TURN_MS is given on, so no figure waits for one that will never finish.
  // A figure out of view that finds no one drawing still waits up to SETTLE_MS for the figures in view to load.
  var TURN_MS = 3000, SETTLE_MS = 300, turnPromise = null, turnHeld = false;

  function queue() {
    try {
      var frame = window.frameElement, host = window.parent;
      if (!frame || host === window || !host.document) return null;
      return host.__attnvizTurns || (host.__attnvizTurns = { busy: null, since: 0, win: null, waiting: [] });
    } catch (e) {
      return null;  // a parent of another origin (file:// in Chromium): no queue, draw at once
    }
  }

  function distance(frame) {  // px between the iframe and the host page's viewport (0: visible)
    var r = frame.getBoundingClientRect(), h = frame.ownerDocument.defaultView.innerHeight;
    return r.bottom < 0 ? -r.bottom : r.top > h ? r.top - h : 0;
  }

  function next(q) {
    var b = q.busy;
    if (b && (!b.isConnected || b.contentWindow !== q.win || Date.now() - q.since > TURN_MS)) q.busy = null;
    if (q.busy) return;
    q.waiting = q.waiting.filter(function (w) { return w.frame.isConnected && w.frame.contentWindow === w.win; });
    if (!q.waiting.length) return;
    q.waiting.sort(function (a, b) { return distance(a.frame) - distance(b.frame); });
    var w = q.waiting[0], wait = SETTLE_MS - (Date.now() - w.since);
    if (wait > 0 && distance(w.frame) > 0) {
      setTimeout(function () { next(q); }, wait);
      return;
    }
    q.waiting.shift();
    q.busy = w.frame;
    q.win = w.win;
    q.since = Date.now();
    try { w.go(); } catch (e) { q.busy = null; next(q); }
  }

  function turn() {
    if (turnPromise) return turnPromise;
    var q = queue();
    if (!q) {
      turnPromise = Promise.resolve();
      return turnPromise;
    }
    turnPromise = new Promise(function (resolve) {
      var timer = setInterval(function () { next(q); }, 250);  // in case the figure drawing now never says done
      q.waiting.push({ frame: window.frameElement, win: window, since: Date.now(), go: function () {
        clearInterval(timer);
        turnHeld = true;
        resolve();
      } });
      next(q);
    });
    return turnPromise;
  }

  function done() {
    sendHeight(true);  // drawn: its height (which the drawing may have changed), and that it is drawn
    if (!turnHeld) return;
    turnHeld = false;
    var q = queue();
    if (q && q.busy === window.frameElement) {
      q.busy = null;
      next(q);
    }
  }

  // ------------------------------------------------------------------------------------------ BokehJS
  // A script from the host page's inert copy (a text/plain script element of that id), run as a script of this page:
  // one compiled copy serves every figure of the host page.
  function hostScript(id) {
    var inert;
    try {
      if (window.parent === window) return Promise.resolve(false);
      inert = window.parent.document.getElementById(id);
    } catch (e) {
      return Promise.resolve(false);
    }
    if (!inert) return Promise.resolve(false);
    // BokehJS travels deflated (a third of its size, base64 included): inflated here, then run like the others
    var code = inert.getAttribute("data-encoding") === "deflate"
      ? inflate(inert.textContent).then(function (b) { return new TextDecoder().decode(b); })
      : Promise.resolve(inert.textContent);
    return code.then(function (text) {
      var s = document.createElement("script");
      s.textContent = text;
      document.head.appendChild(s);
      s.remove();
      return true;
    }, function () { return false; });
  }

  var bokehPromise = null;
  function bokeh(src) {
    if (bokehPromise) return bokehPromise;
    bokehPromise = turn().then(function () {
      if (typeof Bokeh !== "undefined") return Bokeh;
      return hostScript("attnviz-bokehjs").then(function (ran) {
        if (ran && typeof Bokeh !== "undefined") return Bokeh;
        if (!src || !src.src) throw new Error(t("no_bokeh"));
        return new Promise(function (resolve, reject) {
          var s = document.createElement("script");
          if (src.integrity) {
            s.integrity = src.integrity;
            s.crossOrigin = "anonymous";
          }
          s.onload = function () { typeof Bokeh !== "undefined" ? resolve(Bokeh) : reject(new Error(t("no_bokeh"))); };
          s.onerror = function () { reject(new Error(t("no_bokeh"))); };
          s.src = src.src;
          document.head.appendChild(s);
        });
      });
    });
    return bokehPromise;
  }

  // ---------------------------------------------------------------------------------------- messages
  function fail(message) {
    done();
    var el = document.getElementById("attnviz-message");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }

  function canDecode() {
    if (typeof DecompressionStream !== "undefined") return true;
    fail(t("no_decompression"));
    return false;
  }

  // ----------------------------------------------------------------------------------- the payload
  var scale = 1;  // the payload's, once read
  /** @returns {Payload | null} the page's data, or null (the message says why) */
  function payload() {
    var data = /** @type {Payload} */ (JSON.parse(document.getElementById("attnviz-data").textContent));
    texts(data.i18n);
    theme.init(data.theme);  // the page's colours before anything draws
    if (data.version !== A.VERSION) {
      fail(t("cannot_draw", { error: "this page was made for another version of mkdocs-attnviz (page format "
        + data.version + ", this script reads " + A.VERSION + "): rebuild the site" }));
      return null;
    }
    scale = data.scale;
    A.data = data;
    return data;
  }

  // --------------------------------------------------------------------------------------- matrices
  /** @param {number} v a packed byte @returns {number} the weight */
  function weight(v) { return v / scale; }

  /** layer l of attention set s: Promise<Uint8Array> of (heads, nq, nk), its size checked
   * @param {AttentionSet} set @param {string} s @param {number} l @param {number} H @returns {Promise<Uint8Array>} */
  function layer(set, s, l, H) {
    var own = provided && provided[s + "/" + l];
    return (own ? Promise.resolve(own) : bytes('script[data-set="' + s + '"][data-layer="' + l + '"]')).then(function (u8) {
      var size = H * set.nq * set.nk;
      if (u8.length !== size) throw new Error("layer " + l + ": expected " + size + " bytes, got " + u8.length);
      return u8;
    });
  }

  // A live figure (attnviz-live.js) shows the reader's sentence: its sets replace the payload's, its layers (packed
  // as the page's: round(w * scale) as uint8, not compressed) the page's blocks, until restore().
  var provided = null, authorSets = null;
  /** @param {Object<string, AttentionSet>} sets @param {Object<string, Uint8Array>} layers by "set/layer" */
  function provide(sets, layers) {
    if (!authorSets) authorSets = A.data.sets;
    provided = layers;
    A.data.sets = sets;
  }
  function restore() {
    if (authorSets) A.data.sets = authorSets;
    provided = null;
  }

  /** (nn) floats of one head, or the mean / max over the heads (or over the heads in `only`)
   * @param {Uint8Array} u8 @param {number} nn cells of one head @param {number} H @param {number|string} head
   * @param {number[]=} only @returns {Float32Array} */
  function matrix(u8, nn, H, head, only) {
    var out = new Float32Array(nn), i, j, m, v, heads = only || [];
    if (!only) for (j = 0; j < H; j++) heads.push(j);
    if (head === "mean" || head === "max") {
      for (i = 0; i < nn; i++) {
        m = 0;
        for (j = 0; j < heads.length; j++) {
          v = u8[heads[j] * nn + i];
          if (head === "mean") m += v; else if (v > m) m = v;
        }
        out[i] = head === "mean" ? m / (scale * Math.max(heads.length, 1)) : m / scale;
      }
    } else {
      var off = Number(head) * nn;
      for (i = 0; i < nn; i++) out[i] = u8[off + i] / scale;
    }
    return out;
  }

  // ------------------------------------------------------------------------------ labels and controls
  /** @param {number} px @param {boolean=} bold @returns {string} the canvas font of the figures */
  function font(px, bold) { return (bold ? "bold " : "") + px + "px " + FONT; }

  /** "cat  #3 (special)": a token of an axis, as tooltips name it @param {Axis} side @param {number} i */
  function tokenText(side, i) {
    var label = side.labels[i];
    var s = (label === "" ? "∅" : label) + "  #" + i;
    if (side.special[i]) s += " " + t("special");
    if (side.segments[i] === 1) s += " " + t("pair");
    return s;
  }

  /** a select's value: an index, or a word (mean, max, all...) @param {string} v @returns {number|string} */
  function parseChoice(v) { return /^-?\d+$/.test(v) ? parseInt(v, 10) : v; }

  /** a labelled select in `into`; onChange gets the parsed choice
   * @param {string} label @param {string} id @param {Array<[number|string, string]>} options
   * @param {number|string|null} initial @param {(v: number|string) => void} onChange @param {Element} into */
  function select(label, id, options, initial, onChange, into) {
    var wrap = document.createElement("label");
    wrap.className = "attnviz-control";
    wrap.appendChild(document.createTextNode(label + " "));
    var sel = document.createElement("select");
    sel.id = id;
    sel.setAttribute("aria-label", label);
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = String(o[0]);
      opt.textContent = o[1];
      if (String(o[0]) === String(initial)) opt.selected = true;
      sel.appendChild(opt);
    });
    sel.addEventListener("change", function () { onChange(parseChoice(sel.value)); });
    wrap.appendChild(sel);
    into.appendChild(wrap);
    return sel;
  }

  /** @param {number} L @param {boolean=} all @returns {Array<[number|string, string]>} */
  function layerOptions(L, all) {
    /** @type {Array<[number|string, string]>} */
    var out = [];
    for (var l = 0; l < L; l++) out.push([l, l === L - 1 ? t("last", { layer: l }) : String(l)]);
    if (all) out.push(["all", t("all")]);
    return out;
  }
  /** @param {number} H @param {string[]=} extra @returns {Array<[number|string, string]>} */
  function headOptions(H, extra) {
    /** @type {Array<[number|string, string]>} */
    var out = [];
    for (var h = 0; h < H; h++) out.push([h, String(h)]);
    return out.concat((extra || ["mean", "max"]).map(function (x) { return /** @type {[string, string]} */ ([x, t(x)]); }));
  }

  /** the figure's title, in the header and the document @param {string} text */
  function setTitle(text) {
    var el = document.getElementById("attnviz-title");
    if (el) { el.textContent = text; el.title = text; }
    document.title = text;
  }

  // ----------------------------------------------------------------------------------- frame height
  // The frame takes its content's height. The content is measured here; a parent of this origin (srcdoc, a site
  // served over http) gets the height set on the iframe directly, and every parent (file://, another origin) is
  // sent {attnviz: "height", height} for the embed snippet's listener.
  var lastHeight = 0;
  function contentHeight() {
    var root = document.querySelector(".attnviz") || document.body;
    return Math.ceil(root.getBoundingClientRect().height);
  }
  /** @param {boolean=} drawn the figure has drawn (the host page may release it once the reader is far away) */
  function sendHeight(drawn) {
    var h = contentHeight();
    if (!h || (h === lastHeight && !drawn) || window.parent === window) return;
    lastHeight = h;
    try {
      var frame = window.frameElement;
      if (frame && frame instanceof HTMLElement) frame.style.height = h + "px";
    } catch (e) { /* another origin: the message below does it */ }
    try { window.parent.postMessage({ attnviz: "height", height: h, drawn: !!drawn }, "*"); } catch (e) { /* none */ }
  }
  var fitting = false;
  function fit() {
    if (fitting) return;
    fitting = true;
    var root = document.querySelector(".attnviz") || document.body;
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(function () { sendHeight(); }).observe(root);
    window.addEventListener("load", function () { sendHeight(); });
    sendHeight();
  }

  A.core = { theme: theme, downloads: downloads, bytes: bytes, side: side, forget: forget, fail: fail,
             canDecode: canDecode, toCSV: toCSV, toJSON: toJSON, texts: texts, t: t, layerText: layerText,
             headText: headText, describe: describe, turn: turn, done: done, bokeh: bokeh, payload: payload,
             weight: weight, layer: layer, matrix: matrix, font: font, FONT: FONT, tokenText: tokenText,
             parseChoice: parseChoice, select: select, layerOptions: layerOptions, headOptions: headOptions,
             setTitle: setTitle, fit: fit, provide: provide, restore: restore };
  fit();
})();
