// @ts-check
/* mkdocs-attnviz: a live figure (the `live` option) — the reader's own sentence, run in the reader's browser.
 *
 * The figure page's payload has `live` (LiveInfo: the manifest's URL, the runtime folder's URL, and the build's
 * reason where this page cannot go live). This script, loaded after the view's, adds a sentence box under the
 * header. Nothing of the model or the runtime is requested until the reader submits a sentence; then it
 *   1. reads live.json (the manifest: the model's files with their sizes and sha256, layers, heads, the bound),
 *   2. imports the vendored onnxruntime-web (WASM, one thread: GitHub Pages has no cross-origin isolation) and
 *      @huggingface/tokenizers from the site's runtime folder, fetches model.onnx (progress shown, sha256 checked)
 *      and tokenizer.json,
 *   3. tokenizes as the build does (mkdocs_attnviz/extract/tokens.py: the specials the template adds, labels from
 *      the characters each token covers, ticks as views.base.side_json), runs the model, packs its attentions as
 *      the page contract does (uint8 round(w * scale)), and hands them to the client core (Attnviz.core.provide),
 *   4. redraws the figure through the view (Attnviz.reload): same controls, downloads and language.
 * "Back to the author's sentence" restores the page's own data. Where the page cannot run the model (file://,
 * no WebAssembly, a reason from the build) the box says why and the figure works as it does without `live`.
 * Attnviz.live.state() tells tests and benchmarks what happened (phase, timings, bytes, tokens, the bound). */
(function () {
  "use strict";

  var A = window.Attnviz, C = A && A.core;
  /** @type {any} */
  var data = A && A.data;
  if (!C || !data || !data.live) return;
  /** @type {{manifest: string, runtime: string, reason: (string|null)}} */
  var live = data.live;
  var t = C.t;
  var author = { text: data.text, sets: data.sets };
  var ORT = "ort.wasm.bundle.min.mjs", WASM = "ort-wasm-simd-threaded.wasm", TOKENIZERS = "tokenizers.min.mjs";

  // ------------------------------------------------------------------------------------------- state
  /** @type {Object<string, any>} */
  var state = { phase: "idle", reason: null, text: null, tokens: null, ids: null, labels: null, special: null,
                bound: null, quant: null, measured: null, first_ms: null, last_ms: null, model_ms: null,
                draw_ms: null, runs: 0, error: null };
  A.live = { state: function () { return JSON.parse(JSON.stringify(state)); } };

  // -------------------------------------------------------------------------------------------- the box
  var root = document.querySelector(".attnviz");
  var header = document.querySelector(".attnviz-header");
  /** an element with its attributes (and text) @param {string} tag @param {Object<string, string>} attrs
   * @param {string=} text @returns {any} */
  function element(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text) el.textContent = text;
    return el;
  }
  var form = element("form", { "class": "attnviz-live", id: "attnviz-live-box", novalidate: "" });
  var label = element("label", { "for": "attnviz-live-text" }, t("live_label"));
  var input = element("input", { type: "text", id: "attnviz-live-text", name: "sentence", autocomplete: "off",
                                 spellcheck: "false", placeholder: data.text, "aria-describedby": "attnviz-live-status" });
  var go = element("button", { type: "submit", "class": "attnviz-live-go" }, t("live_run"));
  var back = element("button", { type: "button", "class": "attnviz-live-back", id: "attnviz-live-back", hidden: "" },
                     t("live_back"));
  var status = element("p", { "class": "attnviz-live-status", id: "attnviz-live-status", role: "status",
                              "aria-live": "polite" });
  [label, input, go, back, status].forEach(function (el) { form.appendChild(el); });
  if (header && header.parentNode) header.parentNode.insertBefore(form, header.nextSibling);
  else if (root) root.insertBefore(form, root.firstChild);

  /** @param {string} text @param {string=} kind */
  function say(text, kind) {
    status.textContent = text;
    status.setAttribute("data-kind", kind || "info");
  }

  // ------------------------------------------------------------------------------- can this page go live?
  function unavailable() {
    if (live.reason) return live.reason;
    if (window.location.protocol === "file:") return t("live_file");
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") return t("live_no_wasm");
    if (data.side) return t("live_long");
    return null;
  }
  var why = unavailable();
  if (why) {
    state.phase = "unavailable";
    state.reason = why;
    input.disabled = true;
    go.disabled = true;
    say(why, "unavailable");
    form.classList.add("attnviz-live-off");
    return;
  }

  // ------------------------------------------------------------------------------------ loading, once
  var loaded = null;   // Promise of {ort, session, tokenizer, manifest, special}
  var fetched = 0;     // bytes of the model and tokenizer fetched so far

  /** @param {string} rel @param {string|URL} base @returns {string} */
  function url(rel, base) { return new URL(rel, base).href; }

  function mb(bytes) { return (bytes / 1048576).toFixed(1); }

  /** a file's bytes, the progress said as it arrives @param {string} href @param {number} total */
  function download(href, total) {
    return fetch(href, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(t("live_fetch_failed", { file: href, status: r.status }));
      if (!r.body || !r.body.getReader) return r.arrayBuffer().then(function (b) { fetched += b.byteLength; return new Uint8Array(b); });
      var reader = r.body.getReader(), parts = [], got = 0, lastSaid = 0;
      return (function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            var out = new Uint8Array(got), off = 0;
            parts.forEach(function (p) { out.set(p, off); off += p.length; });
            return out;
          }
          parts.push(chunk.value);
          got += chunk.value.length;
          fetched += chunk.value.length;
          var now = Date.now();
          if (now - lastSaid > 250) {
            lastSaid = now;
            say(t("live_loading_model", { done: mb(got), total: mb(total || got) }), "busy");
          }
          return pump();
        });
      })();
    });
  }

  /** the file's sha256 against the manifest's (where the browser can hash: secure contexts) */
  function checked(bytes, file) {
    if (!file || !file.sha256 || !(window.crypto && crypto.subtle)) return Promise.resolve(bytes);
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) {
      var hex = Array.prototype.map.call(new Uint8Array(d), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      if (hex !== file.sha256) throw new Error(t("live_corrupt", { file: file.name }));
      return bytes;
    });
  }

  function load() {
    if (loaded) return loaded;
    var manifestURL = url(live.manifest, window.location.href), runtime = url(live.runtime, window.location.href);
    say(t("live_loading"), "busy");
    loaded = fetch(manifestURL, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(t("live_fetch_failed", { file: manifestURL, status: r.status }));
      return r.json();
    }).then(function (manifest) {
      if (manifest.version !== 1) throw new Error("live.json version " + manifest.version);
      if (manifest.layers !== data.num_layers || manifest.heads !== data.num_heads) {
        throw new Error("live.json: " + manifest.layers + " × " + manifest.heads + " attentions, the figure has "
                        + data.num_layers + " × " + data.num_heads);
      }
      var files = manifest.files || {};
      var modelFile = files.model, tokFile = files.tokenizer;
      // the runtime's modules (import(), from the site) while the model downloads
      var ortP = import(runtime + ORT);
      var tokModP = import(runtime + TOKENIZERS);
      var modelP = download(url(modelFile.name, manifestURL), modelFile.bytes).then(function (b) { return checked(b, modelFile); });
      var tokP = download(url(tokFile.name, manifestURL), tokFile.bytes).then(function (b) { return checked(b, tokFile); })
        .then(function (b) { return JSON.parse(new TextDecoder().decode(b)); });
      return Promise.all([ortP, tokModP, modelP, tokP]).then(function (got) {
        var ort = got[0], Tokenizer = got[1].Tokenizer;
        ort.env.wasm.numThreads = 1;   // no SharedArrayBuffer without cross-origin isolation (GitHub Pages)
        ort.env.wasm.proxy = false;
        ort.env.wasm.wasmPaths = { wasm: runtime + WASM };  // the glue is in the bundle: only the .wasm is fetched
        say(t("live_starting"), "busy");
        return ort.InferenceSession.create(got[2], { executionProviders: ["wasm"], graphOptimizationLevel: "all" })
          .then(function (session) {
            state.bound = manifest.bound + 0.5 / data.scale;   // the export's bound, plus the 8-bit packing
            state.quant = manifest.quant;
            state.measured = manifest.measured;
            return { ort: ort, session: session, manifest: manifest,
                     tokenizer: new Tokenizer(got[3], manifest.tokenizer_config || {}) };
          });
      });
    });
    loaded.catch(function () { loaded = null; });  // a failure may be retried (the network came back)
    return loaded;
  }

  // ------------------------------------------------------------------------------- tokens as the build
  var MARK = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;
  /** a character as WordPiece's normalizer compares it: lower case, accents stripped @param {string} s */
  function fold(s) { return s.normalize("NFD").replace(MARK, "").toLowerCase(); }
  function isSpace(ch) { return /^\s$/u.test(ch); }
  function isPunct(ch) {  // BERT's pre-tokenizer: ASCII punctuation and Unicode P*
    var c = ch.codePointAt(0);
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)
      || /^\p{P}$/u.test(ch);
  }

  /** each content token's character span in `text` (the fast tokenizer's offset_mapping), or null where the
   * token's characters cannot be found (WordPiece: '##' continues a word; the unknown token covers a word)
   * @param {string[]} tokens @param {string} text @param {string} unk @returns {Array<[number, number]|null>} */
  function offsets(tokens, text, unk) {
    var chars = Array.from(text), starts = [], pos = 0, i;
    for (i = 0; i < chars.length; i++) { starts.push(pos); pos += chars[i].length; }
    starts.push(pos);
    var at = 0, out = [];
    tokens.forEach(function (tok) {
      while (at < chars.length && (isSpace(chars[at]) || fold(chars[at]) === "")) at++;
      var s = at;
      if (tok === unk) {  // a whole word (or one punctuation character) the vocabulary lacks
        if (at < chars.length && isPunct(chars[at])) at++;
        else while (at < chars.length && !isSpace(chars[at]) && !isPunct(chars[at])) at++;
        out.push(at > s ? [starts[s], starts[at]] : null);
        return;
      }
      var want = fold(tok.indexOf("##") === 0 ? tok.slice(2) : tok), got = "", j = at;
      while (j < chars.length && got.length < want.length) { got += fold(chars[j]); j++; }
      if (got === want && j > s) {
        at = j;
        out.push([starts[s], starts[j]]);
      } else {
        out.push(null);
      }
    });
    return out;
  }

  /** labels_from_offsets (extract/tokens.py) for one sentence
   * @param {string[]} tokens @param {boolean[]} special @param {Array<[number, number]|null>} offs
   * @param {string} text @param {any} marks */
  function labels(tokens, special, offs, text, marks) {
    var shown = 0;
    return tokens.map(function (tok, i) {
      if (special[i]) return tok;
      var o = offs[i];
      if (!o || o[1] <= o[0]) return clean(tok) || marks.space;
      var s = Math.max(0, o[0]), e = Math.min(text.length, o[1]);
      var startNew = Math.max(s, shown);
      var fresh = startNew < e ? text.slice(startNew, e).trim() : "";
      shown = Math.max(shown, e);
      if (fresh) return fresh;
      var span = text.slice(s, e).trim();
      return span ? marks.continuation + span : marks.space;
    });
  }
  function clean(tok) {  // _clean_piece
    var s = tok.indexOf("##") === 0 ? tok.slice(2) : tok;
    return s.replace(/[\u0120\u2581\u010a]/g, " ").trim();
  }
  /** toolkit.page.display_label @param {string} label @param {number} limit */
  function tick(label, limit) {
    var text = label.trim() ? label : (label ? "␣" : "∅");
    var chars = Array.from(text);
    return chars.length <= limit ? text : chars.slice(0, limit - 1).join("") + "…";
  }

  /** the sentence as the build tokenizes it: ids, tokens, special flags, labels, ticks @param {any} m @param {string} text */
  function tokenize(m, text) {
    var tk = m.tokenizer, sp = m.manifest.special || {};
    var full = tk.encode(text), bare = tk.encode(text, { add_special_tokens: false });
    var ids = full.ids.map(Number), tokens = full.tokens.slice(), n = ids.length, k = bare.ids.length;
    // the specials the template adds (special_tokens_mask): everything around the sentence's own tokens
    var lead = 0;
    while (lead + k <= n && !same(ids.slice(lead, lead + k), bare.ids.map(Number))) lead++;
    if (lead + k > n) throw new Error(t("live_tokenizer"));
    var special = ids.map(function (_, i) { return i < lead || i >= lead + k; });
    var offs = offsets(tokens.slice(lead, lead + k), text, tk.model && tk.model.unk_token || "[UNK]");
    var all = ids.map(function (_, i) { return i < lead || i >= lead + k ? null : offs[i - lead]; });
    var marks = { space: sp.space || "␣", continuation: sp.continuation || "·" };
    var labs = labels(tokens, special, all, text, marks);
    return { ids: ids, tokens: tokens, special: special, labels: labs,
             ticks: labs.map(function (l) { return tick(l, sp.tick_chars || 14); }),
             types: full.token_type_ids || ids.map(function () { return 0; }) };
  }
  function same(a, b) { return a.length === b.length && a.every(function (v, i) { return v === b[i]; }); }

  // ------------------------------------------------------------------------------------ running, packing
  /** numpy's rint: half to even */
  function rint(x) {
    var r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function run(m, text) {
    var tok = tokenize(m, text), n = tok.ids.length, ort = m.ort, max = m.manifest.max_tokens;
    if (max && n > max) throw new Error(t("live_too_long", { tokens: n, max: max }));
    /** @type {Object<string, any>} */
    var feeds = {};
    var columns = { input_ids: tok.ids, attention_mask: tok.ids.map(function () { return 1; }), token_type_ids: tok.types };
    (m.manifest.inputs || ["input_ids", "attention_mask"]).forEach(function (name) {
      var values = columns[name];
      if (!values) throw new Error("live.json: unknown input " + name);
      feeds[name] = new ort.Tensor("int64", BigInt64Array.from(values.map(function (v) { return BigInt(v); })), [1, n]);
    });
    var t0 = performance.now();
    return m.session.run(feeds).then(function (out) {
      state.model_ms = performance.now() - t0;  // the model alone (onnxruntime-web)
      var att = out[m.manifest.output || "attentions"], dims = att.dims, w = att.data;
      var L = data.num_layers, H = data.num_heads, per = H * n * n;
      if (dims.length !== 4 || dims[0] !== L || dims[1] !== H || dims[2] !== n || dims[3] !== n) {
        throw new Error("the model's attentions are " + dims.join(" × ") + ", expected " + [L, H, n, n].join(" × "));
      }
      /** @type {Object<string, Uint8Array>} */
      var layers = {};
      var scale = data.scale, setName = data.set;
      for (var l = 0; l < L; l++) {
        var u8 = new Uint8Array(per), base = l * per;
        for (var i = 0; i < per; i++) {
          var v = w[base + i];
          u8[i] = v !== v ? 0 : Math.max(0, Math.min(255, rint(v * scale)));  // analysis.quantize
        }
        layers[setName + "/" + l] = u8;
      }
      if (att.dispose) att.dispose();
      var axis = { labels: tok.labels, ticks: tok.ticks, tokens: tok.tokens, special: tok.special,
                   segments: tok.ids.map(function () { return 0; }) };
      var old = author.sets[setName];
      /** @type {Object<string, any>} */
      var sets = {};
      sets[setName] = { nq: n, nk: n, q: axis, k: axis, causal: !!(m.manifest.causal || (old && old.causal)), square: true };
      return { tok: tok, sets: sets, layers: layers };
    });
  }

  // ------------------------------------------------------------------------------------ the figure
  var plot = document.getElementById("attnviz-plot"), table = document.getElementById("attnviz-table");
  var described = plot ? plot.getAttribute("aria-describedby") : null;

  /** the figure shows `sets` (the reader's) or the author's (null) @param {any} got @param {string} text */
  function show(got, text) {
    if (got) C.provide(got.sets, got.layers); else C.restore();
    data.text = got ? text : author.text;
    if (table) table.hidden = !!got;  // the table alternative is the author's matrix
    if (plot) {
      if (got) plot.setAttribute("aria-describedby", "attnviz-live-status");
      else if (described) plot.setAttribute("aria-describedby", described); else plot.removeAttribute("aria-describedby");
    }
    back.hidden = !got;
    return Promise.resolve(A.reload ? A.reload() : null);
  }

  /** after the browser has painted what was drawn (the frame after next) */
  function painted() {
    return new Promise(function (resolve) { requestAnimationFrame(function () { requestAnimationFrame(function () { resolve(); }); }); });
  }

  var busy = false, pending = null;
  function submit(text) {
    if (busy) { pending = text; return; }
    busy = true;
    var t0 = performance.now();
    state.phase = loaded ? "running" : "loading";
    state.error = null;
    form.setAttribute("aria-busy", "true");
    go.disabled = true;
    load().then(function (m) {
      state.phase = "running";
      say(t("live_running"), "busy");
      return run(m, text);
    }).then(function (got) {
      var drawing = performance.now();
      return show(got, text).then(painted).then(function () {
        state.draw_ms = performance.now() - drawing;  // the view's redraw, up to the painted frame
        var ms = performance.now() - t0;  // from the reader's Enter to the frame that shows the redrawn figure
        state.runs += 1;
        if (state.first_ms === null) state.first_ms = ms;
        state.last_ms = ms;
        state.text = text; state.ids = got.tok.ids; state.tokens = got.tok.tokens; state.labels = got.tok.labels;
        state.special = got.tok.special; state.bytes = fetched;
        state.phase = "shown";
        say(t("live_shown", { sentence: text, tokens: got.tok.ids.length, bound: state.bound.toFixed(3),
                              quant: state.quant, seconds: (ms / 1000).toFixed(1) }), "done");
      });
    }).catch(function (err) {
      console.error("attnviz:", err);
      state.phase = "error";
      state.error = String(err && err.message || err);
      say(t("live_failed", { error: state.error }), "error");
    }).then(function () {
      busy = false;
      form.removeAttribute("aria-busy");
      go.disabled = false;
      if (pending !== null) { var next = pending; pending = null; submit(next); }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { say(t("live_empty"), "error"); input.focus(); return; }
    submit(text);
  });
  back.addEventListener("click", function () {
    if (busy) return;
    show(null, author.text).then(function () {
      state.phase = "idle";
      state.text = null;
      say(t("live_restored"), "done");
      input.focus();
    });
  });
})();
