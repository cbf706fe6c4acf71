/* gankit lab: drawing on canvases. Pure functions of what the server sent; no state of their own. */
"use strict";

const LabDraw = (() => {
  const REAL = "#1f77b4", FAKE = "#ff7f0e", ARROW = "#2d2d2d";
  const LOSS_D = "#3b5b92", LOSS_G = "#c8641b";

  // P(real) 0..255 -> RGBA: pale orange (fake) through white (1/2) to pale blue (real).
  const LUT = (() => {
    const lut = new Uint8ClampedArray(256 * 4);
    const fake = [255, 170, 95], real = [95, 160, 215], strength = 0.62;
    for (let i = 0; i < 256; i++) {
      const t = i / 127.5 - 1; // -1 (fake) .. 1 (real)
      const c = t < 0 ? fake : real, a = Math.abs(t) * strength;
      for (let k = 0; k < 3; k++) lut[4 * i + k] = Math.round(255 * (1 - a) + c[k] * a);
      lut[4 * i + 3] = 255;
    }
    return lut;
  })();

  /** Size a canvas's backing store to its CSS size times the device pixel ratio; returns [w, h] in CSS px. */
  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, canvas.clientWidth), h = Math.max(1, canvas.clientHeight);
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return [w, h];
  }

  /** Round tick spacing: 1, 2 or 5 times a power of ten, about `count` ticks over `span`. */
  function tickStep(span, count) {
    const raw = span / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
    return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  }

  function fmtTick(v, step) {
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(digits);
  }

  const surfaceCanvas = document.createElement("canvas");

  /**
   * The main view. `problem` holds extent, grid, real points and the pull's scale; `frame` the
   * surface (base64 bytes), fake points, pulls and manifold; `show` which layers; `drawn` points
   * drawn by hand (drawing mode: only those, over `drawExtent`).
   */
  function view(canvas, problem, frame, show, drawn, drawExtent) {
    const [w, h] = fit(canvas);
    const ctx = canvas.getContext("2d");
    const extent = drawn ? drawExtent : problem.extent;
    const [x0, x1, y0, y1] = extent;
    const sx = (x) => ((x - x0) / (x1 - x0)) * w, sy = (y) => h - ((y - y0) / (y1 - y0)) * h;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);

    if (!drawn && frame && show.surface) {
      const n = problem.grid, bytes = atob(frame.surface);
      surfaceCanvas.width = n;
      surfaceCanvas.height = n;
      const sctx = surfaceCanvas.getContext("2d"), image = sctx.createImageData(n, n);
      for (let row = 0; row < n; row++) {
        for (let col = 0; col < n; col++) {
          const v = bytes.charCodeAt(row * n + col), at = 4 * ((n - 1 - row) * n + col); // row 0 is the bottom
          image.data[at] = LUT[4 * v]; image.data[at + 1] = LUT[4 * v + 1];
          image.data[at + 2] = LUT[4 * v + 2]; image.data[at + 3] = 255;
        }
      }
      sctx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(surfaceCanvas, 0, 0, w, h);
    }
    axes(ctx, w, h, extent, sx, sy);

    if (drawn) {
      dots(ctx, drawn, sx, sy, REAL, 3, 0.85, "#fff");
      return;
    }
    if (show.real) dots(ctx, problem.real, sx, sy, REAL, 2.2, 0.55, null);
    if (!frame) return;
    if (show.manifold) manifold(ctx, frame.manifold, problem.manifold, sx, sy);
    if (show.fake) {
      dots(ctx, frame.fake, sx, sy, FAKE, 3, 0.95, "#fff");
      outside(ctx, frame.fake, sx, sy, w, h);
    }
    if (show.pull) arrows(ctx, frame.fake, frame.pull, problem, sx, sy, w);
  }

  function axes(ctx, w, h, extent, sx, sy) {
    const [x0, x1, y0, y1] = extent, step = tickStep(x1 - x0, 6);
    ctx.strokeStyle = "rgba(40, 50, 60, 0.10)";
    ctx.fillStyle = "rgba(40, 50, 60, 0.65)";
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.textBaseline = "bottom";
    for (let v = Math.ceil(x0 / step) * step; v <= x1; v += step) {
      const x = Math.round(sx(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke();
      if (x > 12 && x < w - 12) ctx.fillText(fmtTick(v, step), x + 2, h - 2);
    }
    for (let v = Math.ceil(y0 / step) * step; v <= y1; v += step) {
      const y = Math.round(sy(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
      if (y > 14 && y < h - 14) ctx.fillText(fmtTick(v, step), 2, y - 1);
    }
  }

  function dots(ctx, points, sx, sy, color, radius, alpha, edge) {
    ctx.globalAlpha = alpha;
    ctx.fillStyle = color;
    ctx.strokeStyle = edge || color;
    ctx.lineWidth = edge ? 0.8 : 0;
    for (const p of points) {
      if (p[0] === null || p[1] === null) continue;
      ctx.beginPath();
      ctx.arc(sx(p[0]), sy(p[1]), radius, 0, 2 * Math.PI);
      ctx.fill();
      if (edge) ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /** Generated points beyond the view, marked where they leave it (hollow, on the border). */
  function outside(ctx, points, sx, sy, w, h) {
    ctx.strokeStyle = FAKE;
    ctx.lineWidth = 1.5;
    for (const p of points) {
      if (p[0] === null || p[1] === null) continue;
      const x = sx(p[0]), y = sy(p[1]);
      if (x >= 0 && x <= w && y >= 0 && y <= h) continue;
      ctx.beginPath();
      ctx.arc(Math.min(w - 4, Math.max(4, x)), Math.min(h - 4, Math.max(4, y)), 3.5, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  function manifold(ctx, nodes, size, sx, sy) {
    ctx.strokeStyle = "rgba(70, 78, 90, 0.38)";
    ctx.lineWidth = 1;
    const at = (i, j) => nodes[i * size + j]; // row i (z2), column j (z1)
    for (let i = 0; i < size; i++) {
      for (const [a, b] of [[(k) => at(i, k), size], [(k) => at(k, i), size]]) {
        ctx.beginPath();
        for (let k = 0; k < b; k++) {
          const p = a(k);
          if (p[0] === null || p[1] === null) continue;
          if (k === 0) ctx.moveTo(sx(p[0]), sy(p[1])); else ctx.lineTo(sx(p[0]), sy(p[1]));
        }
        ctx.stroke();
      }
    }
  }

  /** Arrows on a scale fixed for the problem: a pull of `pull_unit` is `arrow` data units long. */
  function arrows(ctx, points, pulls, problem, sx, sy, w) {
    const scale = problem.arrow / problem.pull_unit, cap = 0.3 * w;
    ctx.strokeStyle = ARROW;
    ctx.fillStyle = ARROW;
    ctx.lineWidth = 1.1;
    ctx.globalAlpha = 0.85;
    for (let i = 0; i < points.length; i++) {
      const p = points[i], v = pulls[i];
      if (p[0] === null || v[0] === null || v[1] === null) continue;
      const ax = sx(p[0]), ay = sy(p[1]);
      let dx = sx(p[0] + v[0] * scale) - ax, dy = sy(p[1] + v[1] * scale) - ay;
      const len = Math.hypot(dx, dy);
      if (len < 0.5) continue;
      if (len > cap) { dx *= cap / len; dy *= cap / len; }
      arrow(ctx, ax, ay, ax + dx, ay + dy, Math.min(5, 0.35 * Math.min(len, cap)));
    }
    ctx.globalAlpha = 1;
  }

  function arrow(ctx, xa, ya, xb, yb, head) {
    ctx.beginPath(); ctx.moveTo(xa, ya); ctx.lineTo(xb, yb); ctx.stroke();
    const angle = Math.atan2(yb - ya, xb - xa);
    ctx.beginPath();
    ctx.moveTo(xb, yb);
    ctx.lineTo(xb - head * Math.cos(angle - 0.45), yb - head * Math.sin(angle - 0.45));
    ctx.lineTo(xb - head * Math.cos(angle + 0.45), yb - head * Math.sin(angle + 0.45));
    ctx.closePath();
    ctx.fill();
  }

  /** The legend's arrow: one pull unit, at the plot's own scale (`pixels` long). */
  function arrowKey(canvas, pixels) {
    const [w, h] = fit(canvas), ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = ARROW; ctx.fillStyle = ARROW; ctx.lineWidth = 1.1;
    const len = Math.min(w - 4, pixels);
    arrow(ctx, 2, h / 2, 2 + len, h / 2, Math.min(5, 0.35 * len));
  }

  /** Losses per example against the epoch, with each objective's equilibrium value dashed. */
  function losses(canvas, rows, equilibrium) {
    const [w, h] = fit(canvas), ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const pad = { l: 38, r: 8, t: 20, b: 20 };
    const values = [equilibrium.loss_d, equilibrium.loss_g];
    for (const r of rows) { if (r[1] !== null) values.push(r[1]); if (r[2] !== null) values.push(r[2]); }
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    const margin = 0.06 * (hi - lo); lo -= margin; hi += margin;
    const last = rows.length ? rows[rows.length - 1][0] : 1, first = rows.length ? rows[0][0] : 0;
    const ex0 = Math.min(first, 0), ex1 = Math.max(last, 1);
    const X = (e) => pad.l + ((e - ex0) / (ex1 - ex0)) * (w - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (h - pad.t - pad.b);

    ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.fillStyle = "rgba(40, 50, 60, 0.7)";
    ctx.strokeStyle = "rgba(40, 50, 60, 0.10)";
    ctx.lineWidth = 1;
    const ystep = tickStep(hi - lo, 4);
    ctx.textBaseline = "middle";
    for (let v = Math.ceil(lo / ystep) * ystep; v <= hi; v += ystep) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
      ctx.fillText(fmtTick(v, ystep), 2, y);
    }
    const xstep = Math.max(1, tickStep(ex1 - ex0, 5));
    ctx.textBaseline = "top";
    for (let e = Math.ceil(ex0 / xstep) * xstep; e <= ex1; e += xstep) {
      ctx.fillText(String(Math.round(e)), X(e) - 4, h - pad.b + 4);
    }

    ctx.setLineDash([5, 4]);
    const same = Math.abs(equilibrium.loss_d - equilibrium.loss_g) < 1e-9;
    for (const [key, color] of [["loss_d", LOSS_D], ["loss_g", LOSS_G]]) {
      if (same && key === "loss_g") break;
      ctx.strokeStyle = same ? "#6b7480" : color;
      ctx.beginPath(); ctx.moveTo(pad.l, Y(equilibrium[key])); ctx.lineTo(w - pad.r, Y(equilibrium[key])); ctx.stroke();
    }
    ctx.setLineDash([]);

    // Thin long histories to about two points per pixel.
    const stride = Math.max(1, Math.floor(rows.length / (2 * (w - pad.l - pad.r))));
    for (const [col, color] of [[1, LOSS_D], [2, LOSS_G]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      let started = false;
      for (let i = 0; i < rows.length; i += stride) {
        const r = rows[i];
        if (r[col] === null) { started = false; continue; }
        if (!started) { ctx.moveTo(X(r[0]), Y(r[col])); started = true; } else ctx.lineTo(X(r[0]), Y(r[col]));
      }
      ctx.stroke();
      if (rows.length === 1 && rows[0][col] !== null) {
        ctx.fillStyle = color;
        ctx.beginPath(); ctx.arc(X(rows[0][0]), Y(rows[0][col]), 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
    // Key.
    ctx.textBaseline = "middle";
    let x = pad.l + 4;
    const key = [["loss_D", LOSS_D, false], ["loss_G", LOSS_G, false],
      [same ? "both at D = ½" : "at D = ½", "#6b7480", true]];
    for (const [label, color, dashed] of key) {
      ctx.strokeStyle = color; ctx.lineWidth = 1.6;
      ctx.setLineDash(dashed ? [5, 4] : []);
      ctx.beginPath(); ctx.moveTo(x, 9); ctx.lineTo(x + 16, 9); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "rgba(40, 50, 60, 0.85)";
      ctx.fillText(label, x + 20, 9);
      x += 28 + ctx.measureText(label).width;
    }
    ctx.textAlign = "right";
    ctx.fillText("epoch →", w - pad.r, 9);
    ctx.textAlign = "left";
  }

  /** Data coordinates of a pointer event on a canvas showing `extent`. */
  function toData(canvas, event, extent) {
    const box = canvas.getBoundingClientRect();
    const [x0, x1, y0, y1] = extent;
    return [x0 + ((event.clientX - box.left) / box.width) * (x1 - x0),
      y1 - ((event.clientY - box.top) / box.height) * (y1 - y0)];
  }

  return { view, losses, arrowKey, toData, fit };
})();
