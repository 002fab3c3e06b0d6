/* mkdocs-attnviz: what every figure page shares (heatmap and the other views).
 *
 * AttnvizCommon.theme     light/dark: the `theme` option, else the embedding page's scheme (mkdocs-material's
 *                         data-md-color-scheme="slate" is dark; JupyterLab's data-jp-theme-light; VS Code's
 *                         vscode-dark body class) when the parent is same-origin, else
 *                         prefers-color-scheme; a `#theme=dark` fragment wins over both. Follows changes.
 * AttnvizCommon.downloads CSV and JSON buttons that save the matrix shown, generated in the browser (Blob +
 *                         a[download]), so they work from file:// too.
 * AttnvizCommon.bytes     decoded bytes of a packed data block (base64 of zlib), as a Promise<Uint8Array>.
 * AttnvizCommon.side      decoded bytes of a side file (a long input's layer and head): the page's own data-side
 *                         block if it has one, else a script element whose file calls attnvizSide (a script
 *                         loads from file:// too, fetch does not), as a Promise<Uint8Array>.
 * AttnvizCommon.t         the figure's words, in its language (set once with AttnvizCommon.texts(data.i18n));
 *                         layerText / headText / describe build the same phrases as the Python side.
 * AttnvizCommon.fail      shows a message in the figure's message box (#attnviz-message).
 * AttnvizCommon.canDecode false where the browser lacks DecompressionStream (the message is shown).
 * AttnvizCommon.turn      Promise of the figure's turn to draw: the figures of one host page (iframes of one origin
 *                         share a thread) draw one at a time, the one nearest the reader's viewport first; a
 *                         figure alone, or under a parent of another origin (file://), draws at once.
 *                         AttnvizCommon.done gives the turn on (after the first draw, or a failure).
 * AttnvizCommon.bokeh     Promise of BokehJS: already in the page, the host page's copy (a page carried in its
 *                         host, mkdocs_attnviz.inline), or loaded from data.bokehjs when the figure's turn comes.
 */
(function () {
  "use strict";

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
    [["CSV", "text/csv", toCSV, ".csv"], ["JSON", "application/json", toJSON, ".json"]].forEach(function (d) {
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
        window.attnvizLastDownload = { name: m.name + d[3], text: text };  // for tests
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

  // side files: id -> Promise<Uint8Array>; a loaded file calls attnvizSide(id, base64)
  var sides = {}, waiting = {};
  window.attnvizSide = function (id, text) {
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
    [window.AttnvizTexts || {}, dict || {}].forEach(function (d) { Object.keys(d).forEach(function (k) { words[k] = d[k]; }); });
  }

  // the word of `key`, with {name} placeholders filled from `params`
  function t(key, params) {
    var s = has(words, key) ? String(words[key]) : key;
    if (!params) return s;
    return s.replace(/\{(\w+)\}/g, function (m, name) { return has(params, name) ? String(params[name]) : m; });
  }

  // "layer 5 of 6 (last)", "all 6 layers", "rollout up to layer 5 of 6 (last)" (texts.Texts.layer)
  function layerText(l, L) {
    var text = l === "all" ? words.all_layers : t(l === L - 1 ? "layer_of_last" : "layer_of", { layer: l, total: L });
    if (words.aggregate_layer) {
      text = l === "all" ? words.aggregate_all.replace("{layers}", text) : words.aggregate_layer.replace("{layer}", text);
    }
    return text;
  }

  // "head 3 of 12", "mean of 12 heads"...; the fused heads of rollout/flow (texts.Texts.head)
  function headText(h, H) {
    if (words.fused_heads) return words.fused_heads;
    if (h === "all" || h === "mean" || h === "max") return words[h + "_heads"];
    return t("head_of", { head: h, total: H });
  }

  // who, the layer, the heads, then the notes (texts.Texts.selection)
  function describe(who, layer, head, L, H, hidden) {
    var parts = [who, layerText(layer, L), headText(head, H)];
    if (hidden) parts.push(words.hidden);
    return parts.concat(words.notes || []).join(words.sep || ", ");
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

  window.AttnvizCommon = { theme: theme, downloads: downloads, bytes: bytes, side: side, forget: forget, fail: fail, canDecode: canDecode,
                           toCSV: toCSV, toJSON: toJSON, texts: texts, t: t, layerText: layerText,
                           headText: headText, describe: describe, turn: turn, done: done, bokeh: bokeh };
})();
