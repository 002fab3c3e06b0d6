// @ts-check
/* mkdocs-attnviz: the host page's side of its figures, installed once per page (window.__attnvizHost) by the first
 * figure's embed snippet (embed.html.jinja puts this script there, minus the comments).
 * - Frames that fit: a figure page measures its content and posts {attnviz: "height", height}; the iframe that sent
 *   it gets that height (from file:// and any origin; a parent of the figure's origin is set by the figure itself).
 * - Memory that does not grow with the page: a figure that has drawn (its message says so) and is far from the
 *   reader (RELEASE viewports away) is released —
 *   its document replaced by an empty one, its height kept — and loaded again, and redrawn, when the reader comes
 *   back within RETURN viewports. Each figure page holds its own BokehJS and data; the page keeps only a few. */
(function () {
  "use strict";
  if (window.__attnvizHost) return;
  window.__attnvizHost = true;
  var RELEASE = 2, RETURN = 1;

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

  /** @param {HTMLIFrameElement} f */
  function release(f) {
    var srcdoc = f.getAttribute("srcdoc");
    f.removeAttribute("data-attnviz-drawn");
    f.setAttribute("data-attnviz-away", srcdoc !== null ? "srcdoc" : "src");
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
    var kind = f.getAttribute("data-attnviz-away");
    f.removeAttribute("data-attnviz-away");
    f.setAttribute(kind, /** @type {any} */ (f).attnvizSaved);
  }

  var pending = false;
  function check() {
    pending = false;
    var h = window.innerHeight || 800;
    frames().forEach(function (f) {
      var r = f.getBoundingClientRect(), d = r.bottom < 0 ? -r.bottom : r.top > h ? r.top - h : 0;
      var away = f.hasAttribute("data-attnviz-away");
      if (!away && d > RELEASE * h && f.hasAttribute("data-attnviz-drawn")) release(f);
      else if (away && d < RETURN * h) restore(f);
    });
  }
  function later() {
    if (pending) return;
    pending = true;
    setTimeout(check, 150);
  }
  window.addEventListener("scroll", later, { passive: true });
  window.addEventListener("resize", later);
  later();
})();
