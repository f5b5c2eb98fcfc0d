/* calolab event display: a 3D view of calorimeter showers drawn on a <canvas>.
 *
 * Plain JavaScript, no library: the report must open without network access.
 * Data come from <script type="application/json" id="evd-data">, written by
 * calolab.report.events.event_display_payload():
 *   {"events": [{"label", "detector", "particle", "energy", "visible", "n_hit",
 *                "entry": [x, y], "direction": [dx, dy, dz],
 *                "sections": [{"name", "z0", "z1", "hx", "hy"}],
 *                "x", "y", "z", "dx", "dy", "dz", "e", "layer": [...]}]}
 * Lengths in cm (cell centres and full cell sizes), energies in GeV.
 *
 * Mouse: drag to rotate, shift+drag or right-drag to pan, wheel to zoom, double-click
 * to reset. Touch: one finger rotates, two fingers zoom. Keys (canvas focused): arrows
 * rotate, +/- zoom, r resets.
 */
(function () {
  "use strict";

  // matplotlib's "inferno", sampled at 17 points; the display uses its upper 80 %
  // so that the faintest cells stay visible on the dark background.
  var INFERNO = [
    [0, 0, 4], [10, 7, 34], [32, 12, 74], [60, 9, 101], [87, 16, 110], [114, 25, 110],
    [140, 41, 105], [165, 44, 96], [188, 55, 84], [210, 70, 67], [228, 90, 49],
    [241, 113, 31], [249, 142, 9], [251, 173, 21], [246, 205, 56], [241, 234, 103],
    [252, 255, 164]
  ];

  // the colour scale spans at most this many decades below the hottest cell
  var DECADES = 4;

  function colour(t) {
    t = 0.2 + 0.8 * Math.min(1, Math.max(0, t));
    var f = t * (INFERNO.length - 1);
    var i = Math.min(INFERNO.length - 2, Math.floor(f));
    var u = f - i;
    var a = INFERNO[i], b = INFERNO[i + 1];
    return [a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), a[2] + u * (b[2] - a[2])];
  }

  function rgba(c, shade, alpha) {
    return "rgba(" + Math.round(c[0] * shade) + "," + Math.round(c[1] * shade) + "," +
      Math.round(c[2] * shade) + "," + alpha.toFixed(3) + ")";
  }

  function formatEnergy(gev) {
    if (gev >= 1) { return gev.toPrecision(3) + " GeV"; }
    if (gev >= 1e-3) { return (gev * 1e3).toPrecision(3) + " MeV"; }
    return (gev * 1e6).toPrecision(3) + " keV";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function EventDisplay(root, data) {
    this.root = root;
    this.events = data.events || [];
    this.index = 0;
    this.mode = "boxes";
    this.fit = "shower";
    this.thresholdLog = null;  // log10 of the display threshold in GeV
    this.pointers = {};
    this.pinch = null;
    this.hover = null;
    this.projected = [];
    this.pending = false;
    this.buildControls();
    this.canvas = root.querySelector("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.tooltip = el("div", { "class": "evd-tooltip", "role": "status" });
    root.querySelector(".evd-stage").appendChild(this.tooltip);
    this.bindEvents();
    this.selectEvent(0);
  }

  EventDisplay.prototype.buildControls = function () {
    var self = this;
    var bar = el("div", { "class": "evd-controls" });
    var select = el("select", { "aria-label": "event", "class": "evd-select" });
    this.events.forEach(function (ev, i) {
      select.appendChild(el("option", { value: String(i) }, ev.label));
    });
    select.addEventListener("change", function () { self.selectEvent(+select.value); });
    bar.appendChild(select);
    this.select = select;

    function button(label, title, fn) {
      var b = el("button", { type: "button", title: title }, label);
      b.addEventListener("click", fn);
      bar.appendChild(b);
      return b;
    }
    button("3D", "oblique view", function () { self.setView(-55, 22); });
    button("Side", "side view (z horizontal, y up)", function () { self.setView(-90, 0); });
    button("Top", "top view (z horizontal, x up)", function () { self.setView(-90, 89.9); });
    button("Beam", "view along the beam", function () { self.setView(0, 0); });
    this.modeButton = button("Points", "draw cells as boxes or as points", function () {
      self.mode = self.mode === "boxes" ? "points" : "boxes";
      self.modeButton.textContent = self.mode === "boxes" ? "Points" : "Boxes";
      self.draw();
    });
    this.fitButton = button("Whole detector", "frame the shower or the whole detector",
      function () {
        self.fit = self.fit === "shower" ? "detector" : "shower";
        self.fitButton.textContent = self.fit === "shower" ? "Whole detector" : "Shower";
        self.resetPan();
        self.draw();
      });

    var label = el("label", { "class": "evd-threshold" }, "threshold ");
    this.slider = el("input", { type: "range", min: "0", max: "100", value: "0",
      "aria-label": "energy threshold" });
    this.sliderText = el("span", { "class": "evd-threshold-value" });
    this.slider.addEventListener("input", function () {
      var ev = self.current();
      self.thresholdLog = ev.lmin + (ev.lmax - ev.lmin) * (+self.slider.value / 100) * 0.9;
      self.draw();
    });
    label.appendChild(this.slider);
    label.appendChild(this.sliderText);
    bar.appendChild(label);
    this.root.insertBefore(bar, this.root.firstChild);
  };

  EventDisplay.prototype.current = function () { return this.events[this.index]; };

  EventDisplay.prototype.selectEvent = function (i) {
    this.index = Math.max(0, Math.min(this.events.length - 1, i));
    var ev = this.current();
    if (ev.lmin === undefined) {
      var emin = Infinity, emax = 0;
      for (var k = 0; k < ev.e.length; k++) {
        if (ev.e[k] > 0) { emin = Math.min(emin, ev.e[k]); emax = Math.max(emax, ev.e[k]); }
      }
      if (!isFinite(emin)) { emin = 1e-4; emax = 1e-3; }
      if (emax <= emin) { emax = emin * 10; }
      ev.lmax = Math.log10(emax);
      ev.lmin = Math.max(Math.log10(emin), ev.lmax - DECADES);
    }
    this.thresholdLog = ev.lmin;
    this.slider.value = "0";
    this.select.value = String(this.index);
    this.setView(-55, 22);
  };

  EventDisplay.prototype.setView = function (yawDeg, pitchDeg) {
    this.yaw = yawDeg * Math.PI / 180;
    this.pitch = pitchDeg * Math.PI / 180;
    this.zoom = 1;
    this.resetPan();
    this.draw();
  };

  EventDisplay.prototype.resetPan = function () { this.panX = 0; this.panY = 0; };

  EventDisplay.prototype.bindEvents = function () {
    var self = this, c = this.canvas;
    c.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    c.addEventListener("pointerdown", function (e) {
      c.setPointerCapture(e.pointerId);
      self.pointers[e.pointerId] = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 2 };
      var ids = Object.keys(self.pointers);
      if (ids.length === 2) {
        var a = self.pointers[ids[0]], b = self.pointers[ids[1]];
        self.pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), zoom: self.zoom };
      }
      self.tooltip.style.display = "none";
    });
    c.addEventListener("pointermove", function (e) {
      var p = self.pointers[e.pointerId];
      if (!p) { self.pick(e); return; }
      var ids = Object.keys(self.pointers);
      if (ids.length === 2 && self.pinch) {
        p.x = e.clientX; p.y = e.clientY;
        var a = self.pointers[ids[0]], b = self.pointers[ids[1]];
        var d = Math.hypot(a.x - b.x, a.y - b.y);
        self.zoom = Math.max(0.2, Math.min(40, self.pinch.zoom * d / Math.max(1, self.pinch.d)));
        self.draw();
        return;
      }
      var dx = e.clientX - p.x, dy = e.clientY - p.y;
      p.x = e.clientX; p.y = e.clientY;
      if (p.pan) {
        self.panX += dx; self.panY += dy;
      } else {
        self.yaw -= dx * 0.008;
        self.pitch = Math.max(-1.5707, Math.min(1.5707, self.pitch + dy * 0.008));
      }
      self.draw();
    });
    function release(e) {
      delete self.pointers[e.pointerId];
      if (Object.keys(self.pointers).length < 2) { self.pinch = null; }
    }
    c.addEventListener("pointerup", release);
    c.addEventListener("pointercancel", release);
    c.addEventListener("pointerleave", function () { self.tooltip.style.display = "none"; });
    c.addEventListener("wheel", function (e) {
      e.preventDefault();
      self.zoom = Math.max(0.2, Math.min(40, self.zoom * Math.exp(-e.deltaY * 0.0015)));
      self.draw();
    }, { passive: false });
    c.addEventListener("dblclick", function () { self.setView(-55, 22); });
    c.addEventListener("keydown", function (e) {
      var step = 0.08, handled = true;
      if (e.key === "ArrowLeft") { self.yaw += step; }
      else if (e.key === "ArrowRight") { self.yaw -= step; }
      else if (e.key === "ArrowUp") { self.pitch = Math.min(1.5707, self.pitch + step); }
      else if (e.key === "ArrowDown") { self.pitch = Math.max(-1.5707, self.pitch - step); }
      else if (e.key === "+" || e.key === "=") { self.zoom = Math.min(40, self.zoom * 1.2); }
      else if (e.key === "-") { self.zoom = Math.max(0.2, self.zoom / 1.2); }
      else if (e.key === "r") { self.setView(-55, 22); return; }
      else { handled = false; }
      if (handled) { e.preventDefault(); self.draw(); }
    });
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { self.draw(); }).observe(c);
    } else {
      window.addEventListener("resize", function () { self.draw(); });
    }
  };

  EventDisplay.prototype.draw = function () {
    var self = this;
    if (this.pending) { return; }
    this.pending = true;
    window.requestAnimationFrame(function () { self.pending = false; self.render(); });
  };

  // View transform: yaw about the vertical (y) axis, then pitch about the screen x axis.
  // Returns [X, Y, Z] with X right, Y up, Z towards the viewer.
  EventDisplay.prototype.rotate = function (x, y, z) {
    var cy = Math.cos(this.yaw), sy = Math.sin(this.yaw);
    var cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    var X = cy * x - sy * z;
    var Z1 = sy * x + cy * z;
    return [X, cp * y - sp * Z1, sp * y + cp * Z1];
  };

  EventDisplay.prototype.frame = function (ev, thr) {
    // centre and radius (cm) of what is framed: the shown cells or the whole detector
    var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    function grow(x, y, z) {
      lo[0] = Math.min(lo[0], x); lo[1] = Math.min(lo[1], y); lo[2] = Math.min(lo[2], z);
      hi[0] = Math.max(hi[0], x); hi[1] = Math.max(hi[1], y); hi[2] = Math.max(hi[2], z);
    }
    if (this.fit === "shower") {
      // the most energetic cells that hold 95 % of the shown energy: isolated noise hits
      // and the faint halo do not shrink the shower to a dot
      var shown = [], total = 0;
      for (var i = 0; i < ev.e.length; i++) {
        if (ev.e[i] >= thr) { shown.push(i); total += ev.e[i]; }
      }
      shown.sort(function (p, q) { return ev.e[q] - ev.e[p]; });
      var acc = 0;
      for (var k = 0; k < shown.length && acc < 0.95 * total; k++) {
        var j = shown[k];
        acc += ev.e[j];
        grow(ev.x[j] - ev.dx[j] / 2, ev.y[j] - ev.dy[j] / 2, ev.z[j] - ev.dz[j] / 2);
        grow(ev.x[j] + ev.dx[j] / 2, ev.y[j] + ev.dy[j] / 2, ev.z[j] + ev.dz[j] / 2);
      }
    }
    if (!isFinite(lo[0])) {
      ev.sections.forEach(function (s) { grow(-s.hx, -s.hy, s.z0); grow(s.hx, s.hy, s.z1); });
    }
    if (!isFinite(lo[0])) { grow(-10, -10, 0); grow(10, 10, 20); }
    var c = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
    var r = 0.5 * Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    return { c: c, r: Math.max(r, 5) };
  };

  EventDisplay.prototype.render = function () {
    var canvas = this.canvas, ctx = this.ctx;
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(50, Math.round(canvas.clientWidth * dpr));
    var h = Math.max(50, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    var ev = this.current();
    var thr = Math.pow(10, this.thresholdLog);
    this.sliderText.textContent = formatEnergy(thr);

    var bg = ctx.createLinearGradient(0, 0, 0, h);
    bg.addColorStop(0, "#161b2e");
    bg.addColorStop(1, "#07090f");
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, w, h);

    var fr = this.frame(ev, thr);
    var scale = 0.40 * Math.min(w, h) / fr.r * this.zoom;
    var dist = 6 * fr.r;  // camera distance (cm): mild perspective
    var cx = w / 2 + this.panX * dpr, cy = h / 2 + this.panY * dpr;
    var self = this;
    function project(p) {
      var f = dist / (dist - p[2]);
      return [cx + scale * f * p[0], cy - scale * f * p[1], p[2]];
    }
    function view(x, y, z) { return self.rotate(x - fr.c[0], y - fr.c[1], z - fr.c[2]); }

    // detector outline: one wire box per section, plus the incoming particle
    ctx.lineWidth = 1 * dpr;
    ev.sections.forEach(function (s, si) {
      var corners = [];
      for (var k = 0; k < 8; k++) {
        corners.push(project(view(k & 1 ? s.hx : -s.hx, k & 2 ? s.hy : -s.hy, k & 4 ? s.z1 : s.z0)));
      }
      ctx.strokeStyle = si === 0 ? "rgba(140,170,230,0.55)" : "rgba(140,170,230,0.30)";
      ctx.beginPath();
      [[0, 1], [1, 3], [3, 2], [2, 0], [4, 5], [5, 7], [7, 6], [6, 4], [0, 4], [1, 5], [2, 6], [3, 7]]
        .forEach(function (e) {
          ctx.moveTo(corners[e[0]][0], corners[e[0]][1]);
          ctx.lineTo(corners[e[1]][0], corners[e[1]][1]);
        });
      ctx.stroke();
      var top = project(view(-s.hx, s.hy, (s.z0 + s.z1) / 2));
      ctx.fillStyle = "rgba(170,190,235,0.75)";
      ctx.font = (11 * dpr) + "px system-ui, sans-serif";
      ctx.fillText(s.name, top[0] + 4 * dpr, top[1] - 4 * dpr);
    });
    if (ev.entry && ev.direction) {
      var d = ev.direction, len = Math.max(15, 0.6 * fr.r);
      var a = project(view(ev.entry[0] - d[0] * len, ev.entry[1] - d[1] * len, -d[2] * len));
      var b = project(view(ev.entry[0], ev.entry[1], 0));
      ctx.strokeStyle = "rgba(120,220,255,0.9)";
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.lineWidth = 1.5 * dpr;
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      ctx.setLineDash([]);
    }

    // cells, far to near (painter's algorithm)
    var idx = [], depth = [];
    var n = ev.e.length;
    var centres = new Array(n);
    for (var i = 0; i < n; i++) {
      if (ev.e[i] < thr) { continue; }
      centres[i] = view(ev.x[i], ev.y[i], ev.z[i]);
      idx.push(i);
    }
    idx.sort(function (p, q) { return centres[p][2] - centres[q][2]; });
    var axes = [this.rotate(1, 0, 0), this.rotate(0, 1, 0), this.rotate(0, 0, 1)];
    var span = ev.lmax - ev.lmin || 1;
    var projected = [];
    var faces = [[1, 2], [0, 2], [0, 1]];  // the two axes spanning the face normal to axis k
    var shades = [0.78, 1.0, 0.9];
    for (var m = 0; m < idx.length; m++) {
      var j = idx[m];
      var t = (Math.log10(ev.e[j]) - ev.lmin) / span;
      var col = colour(t);
      var alpha = 0.45 + 0.55 * Math.min(1, Math.max(0, t));
      var pc = centres[j];
      var half = [ev.dx[j] / 2, ev.dy[j] / 2, ev.dz[j] / 2];
      var sc = project(pc);
      projected.push([sc[0], sc[1], j]);
      if (this.mode === "points") {
        var f = dist / (dist - pc[2]);
        var rad = Math.max(1.2 * dpr, 0.5 * scale * f * Math.min(ev.dx[j], ev.dy[j]) * 0.6);
        ctx.fillStyle = rgba(col, 1, alpha);
        ctx.beginPath(); ctx.arc(sc[0], sc[1], rad, 0, 2 * Math.PI); ctx.fill();
        continue;
      }
      for (var k = 0; k < 3; k++) {
        var nz = axes[k][2];
        if (Math.abs(nz) < 1e-3) { continue; }
        var s = nz > 0 ? 1 : -1;
        var u = faces[k][0], v = faces[k][1];
        var base = [pc[0] + s * half[k] * axes[k][0], pc[1] + s * half[k] * axes[k][1],
          pc[2] + s * half[k] * axes[k][2]];
        var pts = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(function (q) {
          return project([
            base[0] + q[0] * half[u] * axes[u][0] + q[1] * half[v] * axes[v][0],
            base[1] + q[0] * half[u] * axes[u][1] + q[1] * half[v] * axes[v][1],
            base[2] + q[0] * half[u] * axes[u][2] + q[1] * half[v] * axes[v][2]
          ]);
        });
        ctx.fillStyle = rgba(col, shades[k] * (0.75 + 0.25 * Math.abs(nz)), alpha);
        ctx.beginPath();
        ctx.moveTo(pts[0][0], pts[0][1]);
        ctx.lineTo(pts[1][0], pts[1][1]);
        ctx.lineTo(pts[2][0], pts[2][1]);
        ctx.lineTo(pts[3][0], pts[3][1]);
        ctx.closePath();
        ctx.fill();
      }
    }
    this.projected = projected;
    this.drawAxes(ctx, w, h, dpr);
    this.drawColourBar(ctx, w, h, dpr, ev);
    this.drawInfo(ctx, dpr, ev, idx.length, thr);
  };

  EventDisplay.prototype.drawAxes = function (ctx, w, h, dpr) {
    var o = [44 * dpr, h - 44 * dpr], L = 28 * dpr, self = this;
    [["x", [1, 0, 0], "#ff6b6b"], ["y", [0, 1, 0], "#6bff95"], ["z", [0, 0, 1], "#6bb6ff"]]
      .forEach(function (a) {
        var p = self.rotate(a[1][0], a[1][1], a[1][2]);
        ctx.strokeStyle = a[2];
        ctx.lineWidth = 2 * dpr;
        ctx.beginPath();
        ctx.moveTo(o[0], o[1]);
        ctx.lineTo(o[0] + L * p[0], o[1] - L * p[1]);
        ctx.stroke();
        ctx.fillStyle = a[2];
        ctx.font = "bold " + (11 * dpr) + "px system-ui, sans-serif";
        ctx.fillText(a[0], o[0] + (L + 6 * dpr) * p[0] - 3 * dpr, o[1] - (L + 6 * dpr) * p[1] + 4 * dpr);
      });
  };

  EventDisplay.prototype.drawColourBar = function (ctx, w, h, dpr, ev) {
    var bw = 14 * dpr, bh = Math.min(260 * dpr, h - 90 * dpr);
    var x = w - 78 * dpr, y = (h - bh) / 2;
    for (var i = 0; i < bh; i++) {
      ctx.fillStyle = rgba(colour(1 - i / bh), 1, 1);
      ctx.fillRect(x, y + i, bw, 1.5);
    }
    ctx.strokeStyle = "rgba(255,255,255,0.5)";
    ctx.lineWidth = 1;
    ctx.strokeRect(x, y, bw, bh);
    ctx.fillStyle = "#dfe6f5";
    ctx.font = (10.5 * dpr) + "px system-ui, sans-serif";
    // ticks at 1, 2, 5 × 10^k when the scale spans less than two decades, else at 10^k
    var mantissas = ev.lmax - ev.lmin < 2 ? [1, 2, 5] : [1];
    var labels = [];
    for (var d = Math.floor(ev.lmin); d <= Math.ceil(ev.lmax); d++) {
      mantissas.forEach(function (m) {
        var l = d + Math.log10(m);
        if (l >= ev.lmin - 1e-9 && l <= ev.lmax + 1e-9) { labels.push(l); }
      });
    }
    if (labels.length < 2) { labels = [ev.lmin, ev.lmax]; }
    labels.forEach(function (p) {
      var yy = y + bh * (1 - (p - ev.lmin) / (ev.lmax - ev.lmin));
      ctx.fillRect(x + bw, yy - 0.5 * dpr, 4 * dpr, 1 * dpr);
      ctx.fillText(formatEnergy(Math.pow(10, p)), x + bw + 6 * dpr, yy + 4 * dpr);
    });
    ctx.save();
    ctx.translate(x - 8 * dpr, y + bh / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("cell energy (log scale)", 0, 0);
    ctx.restore();
  };

  EventDisplay.prototype.drawInfo = function (ctx, dpr, ev, shown, thr) {
    var lines = [
      ev.label,
      ev.particle + ", E = " + formatEnergy(ev.energy) + ", " +
        (ev.digitized ? "sum of digitised cells " : "visible ") + formatEnergy(ev.visible),
      shown + " of " + ev.n_hit + " hit cells shown (threshold " + formatEnergy(thr) + ")"
    ];
    ctx.font = "600 " + (13 * dpr) + "px system-ui, sans-serif";
    ctx.fillStyle = "#f3f6ff";
    ctx.fillText(lines[0], 14 * dpr, 22 * dpr);
    ctx.font = (11.5 * dpr) + "px system-ui, sans-serif";
    ctx.fillStyle = "#b9c4dd";
    ctx.fillText(lines[1], 14 * dpr, 40 * dpr);
    ctx.fillText(lines[2], 14 * dpr, 56 * dpr);
  };

  EventDisplay.prototype.pick = function (e) {
    var rect = this.canvas.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    var px = (e.clientX - rect.left) * dpr, py = (e.clientY - rect.top) * dpr;
    var best = null, bestD = 9 * dpr;
    // front-most first: this.projected is sorted far to near
    for (var i = this.projected.length - 1; i >= 0; i--) {
      var p = this.projected[i];
      var d = Math.hypot(p[0] - px, p[1] - py);
      if (d < bestD) { best = p[2]; break; }
    }
    if (best === null) { this.tooltip.style.display = "none"; return; }
    var ev = this.current();
    this.tooltip.textContent = "layer " + ev.layer[best] + " · x " + ev.x[best].toFixed(1) +
      " cm, y " + ev.y[best].toFixed(1) + " cm, z " + ev.z[best].toFixed(1) + " cm · " +
      formatEnergy(ev.e[best]);
    this.tooltip.style.left = (e.clientX - rect.left + 12) + "px";
    this.tooltip.style.top = (e.clientY - rect.top + 12) + "px";
    this.tooltip.style.display = "block";
  };

  function start() {
    var node = document.getElementById("evd-data");
    var root = document.getElementById("event-display");
    if (!node || !root) { return; }
    var data = JSON.parse(node.textContent);
    if (!data.events || !data.events.length) { return; }
    root.classList.add("evd-live");
    window.calolabEventDisplay = new EventDisplay(root, data);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
