// @ts-check
/* mkdocs-attnviz: one labelled query × key matrix on a canvas (the head summary's enlarged head, the three
 * panels of a comparison). Attnviz.matrix.draw(cv, x0, y0, width, o) paints into an existing canvas and returns
 * its geometry (with at(event) → [q, k] or null). o: {nq, nk, value(q, k), low, high, colors(v) → "#rrggbb",
 * masked(q, k), qTicks, kTicks, title, bar}. */
(function () {
  "use strict";
  var V = window.Attnviz.canvas;
  if (!V) return;
  var font = V.font;

  function labelSpace(ctx, ticks, px) {
    ctx.font = font(px);
    var longest = 0;
    ticks.forEach(function (t) { longest = Math.max(longest, ctx.measureText(t).width); });
    return Math.min(120, Math.ceil(longest) + 8);
  }

  // the size a matrix needs in a box `width` wide: {cell, lab, height}
  function size(ctx, width, o) {
    var lab = labelSpace(ctx, o.qTicks.concat(o.kTicks), 11);
    var barW = o.bar ? 46 : 0;
    var cell = o.cell || Math.max(3, Math.min(28, Math.floor((width - lab - 12 - barW) / o.nk)));
    return { cell: cell, lab: lab, barW: barW, height: 22 + cell * o.nq + lab * 0.75 + 12 };
  }

  function draw(cv, x0, y0, width, o) {
    var ctx = cv.ctx, c = V.common.theme.colors(), s = size(ctx, width, o), cell = s.cell;
    var gx = x0 + s.lab + 6, gy = y0 + 22, gw = cell * o.nk, gh = cell * o.nq;
    ctx.fillStyle = c.fg;
    ctx.font = font(12, true);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(o.title, x0 + 4, y0 + 10);
    for (var q = 0; q < o.nq; q++) for (var k = 0; k < o.nk; k++) {
      ctx.fillStyle = o.masked && o.masked(q, k) ? "#d0d0d0" : o.colors(o.value(q, k));
      ctx.fillRect(gx + k * cell, gy + q * cell, cell + 0.5, cell + 0.5);
    }
    ctx.font = font(Math.min(11, Math.max(7, cell - 2)));
    var every = Math.ceil(10 / cell);
    ctx.fillStyle = c.fg;
    ctx.textAlign = "right";
    for (q = 0; q < o.nq; q += every) ctx.fillText(o.qTicks[q], gx - 4, gy + (q + 0.5) * cell);
    for (k = 0; k < o.nk; k += every) {
      ctx.save();
      ctx.translate(gx + (k + 0.5) * cell, gy + gh + 4);
      ctx.rotate(-Math.PI / 4);
      ctx.fillText(o.kTicks[k], 0, 0);
      ctx.restore();
    }
    if (o.bar) {  // colour bar: low at the bottom, high at the top
      var bx = gx + gw + 8, steps = 64;
      for (var i = 0; i < steps; i++) {
        var v = o.high - (o.high - o.low) * (i + 0.5) / steps;
        ctx.fillStyle = o.colors(v);
        ctx.fillRect(bx, gy + gh * i / steps, 10, gh / steps + 0.5);
      }
      ctx.fillStyle = c.muted;
      ctx.font = font(10);
      ctx.textAlign = "left";
      ctx.fillText(o.high.toFixed(2), bx + 13, gy + 5);
      ctx.fillText(o.low.toFixed(2), bx + 13, gy + gh - 5);
    }
    return { x: gx, y: gy, cell: cell, nq: o.nq, nk: o.nk, width: gw, height: gh,
             at: function (event) {
               var r = cv.canvas.getBoundingClientRect();
               var kk = Math.floor((event.clientX - r.left - gx) / cell), qq = Math.floor((event.clientY - r.top - gy) / cell);
               return qq < 0 || kk < 0 || qq >= o.nq || kk >= o.nk ? null : [qq, kk];
             } };
  }

  // a palette lookup on [low, high]
  function scale(palette, low, high) {
    return function (v) {
      var t = high > low ? (v - low) / (high - low) : 0, i = Math.max(0, Math.min(palette.length - 1, Math.round(t * (palette.length - 1))));
      return palette[i];
    };
  }

  window.Attnviz.matrix = { draw: draw, size: size, scale: scale };
})();
