// @ts-check
/* mkdocs-attnviz: the host page's side of its figures, installed once per page (window.__attnvizHost) by the first
 * figure's embed snippet (embed.html.jinja puts this script there, minus the comments); every later snippet hands
 * its own frame to it (seen) as the page is parsed.
 * - Frames that fit: a figure page measures its content and posts {attnviz: "height", height}; the iframe that sent
 *   it gets that height (from file:// and any origin; a parent of the figure's origin is set by the figure itself).
 * - Memory that does not grow with the page: a figure that has drawn (its message says so) and is far from the
 *   reader (RELEASE viewports away) is released — its document replaced by an empty one, its height kept — and
 *   loaded again, and redrawn, when the reader comes back within RETURN viewports. Each figure page holds its own
 *   BokehJS and data; the page keeps only a few.
 * - Frames load lazily everywhere: Chromium ignores loading="lazy" for a page read from file:// (every frame of a
 *   page of 30 figures loaded and evaluated its BokehJS at once). A frame far from the reader when it is parsed, or
 *   at a later check before the reader has come near it, is released before it draws ("lazy": nothing to keep) and
 *   loaded when the reader comes within RELEASE viewports; once it has been that near, it is released only after it
 *   has drawn (a reader who scrolls past gets every figure drawn in turn). */
(function () {
  "use strict";
  var script = document.currentScript;
  var installed = window.__attnvizHost;
  if (installed) {  // true: installed by a snippet of an earlier render, which sees frames on its own checks
    if (installed !== true && script && script.parentNode) installed.seen(script.parentNode);
    return;
  }
  var RELEASE = 2, RETURN = 1;
  // lazy loading by hand only where the browser's own is off (file://): served, Chromium starts a lazy frame earlier
  // than RELEASE viewports, so a reader scrolling down finds it drawn sooner
  var BY_HAND = location.protocol === "file:";

  function frames() { return Array.prototype.slice.call(document.querySelectorAll("iframe.attnviz-frame")); }

  window.addEventListener("message", function (e) {
    var d = e.data;
    if (!d || d.attnviz !== "height") return;
    var h = Math.max(40, Math.min(20000, Math.ceil(+d.height) || 0));
    frames().forEach(function (f) {
      if (f.contentWindow !== e.source) return;
      f.style.height = h + "px";
      if (d.drawn) f.setAttribute("data-attnviz-drawn", "");
    });
  });

  /** How far (px) a frame is from the viewport: 0 when any of it is in view.
   * @param {HTMLIFrameElement} f @param {number} h */
  function distance(f, h) {
    var r = f.getBoundingClientRect();
    return r.bottom < 0 ? -r.bottom : r.top > h ? r.top - h : 0;
  }

  /** @param {HTMLIFrameElement} f @param {string} why "drawn" or "lazy" */
  function release(f, why) {
    var srcdoc = f.getAttribute("srcdoc");
    f.removeAttribute("data-attnviz-drawn");
    f.setAttribute("data-attnviz-away", srcdoc !== null ? "srcdoc" : "src");
    f.setAttribute("data-attnviz-why", why);
    if (srcdoc !== null) {
      /** @type {any} */ (f).attnvizSaved = srcdoc;
      f.setAttribute("srcdoc", "");
    } else {
      /** @type {any} */ (f).attnvizSaved = f.getAttribute("src");
      f.setAttribute("src", "about:blank");
    }
  }

  /** @param {HTMLIFrameElement} f */
  function restore(f) {
    var kind = f.getAttribute("data-attnviz-away") || "src";
    f.removeAttribute("data-attnviz-away");
    f.removeAttribute("data-attnviz-why");
    /** @type {any} */ (f).attnvizNear = true;
    f.setAttribute(kind, /** @type {any} */ (f).attnvizSaved);
  }

  /** One frame's turn: released when far (drawn, or never near: lazy), loaded when near again.
   * @param {HTMLIFrameElement} f @param {number} h */
  function decide(f, h) {
    var d = distance(f, h), any = /** @type {any} */ (f);
    if (f.hasAttribute("data-attnviz-away")) {
      var lazy = f.getAttribute("data-attnviz-why") === "lazy";
      if (d < (lazy ? RELEASE : RETURN) * h) restore(f);
    } else if (d > RELEASE * h) {
      if (f.hasAttribute("data-attnviz-drawn")) release(f, "drawn");
      else if (!any.attnvizNear && BY_HAND) release(f, "lazy");
    } else {
      any.attnvizNear = true;
    }
  }

  var pending = false;
  function check() {
    pending = false;
    var h = window.innerHeight || 800;
    frames().forEach(function (f) { decide(f, h); });
  }
  function later() {
    if (pending) return;
    pending = true;
    setTimeout(check, 150);
  }

  /** A figure parsed: its frame, when far from the reader, is released before it loads (nothing marked near while
   * the page is parsed: the reader may yet jump to an anchor).
   * @param {ParentNode} figure */
  function seen(figure) {
    var f = /** @type {HTMLIFrameElement | null} */ (figure.querySelector("iframe.attnviz-frame"));
    // innerHeight and the frame's place make the browser lay out the page parsed so far: only where the frames
    // are loaded by hand (file://); served, the later check reads them once the page is parsed
    if (BY_HAND && f && !f.hasAttribute("data-attnviz-away")) {
      var h = window.innerHeight || 800;
      if (distance(f, h) > RELEASE * h) release(f, "lazy");
    }
    later();
  }
  window.__attnvizHost = { seen: seen };
  window.addEventListener("scroll", later, { passive: true });
  window.addEventListener("resize", later);
  if (script && script.parentNode) seen(script.parentNode);
  else later();
})();
