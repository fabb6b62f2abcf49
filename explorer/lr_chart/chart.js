// The explorer's LR chart (explorer/chart.py sends the args). Streamlit's component protocol, version 1, by
// postMessage: announce `streamlit:componentReady`, draw on each `streamlit:render` (its args: `meta`, JSON, and
// `data`, the float64 values of every series), report the height with `streamlit:setFrameHeight`.
// What was drawn is kept in `window.drawn` (series, pixels, ticks, legend boxes): the browser tests and the
// benchmark read it (explorer/browser.py).
"use strict";

const PAD = 6;           // px of room above the peak and below the lowest value: a curve at the edge is drawn whole
const LINE_WIDTH = 1.8;
const DOT_RADIUS = 2.1;  // a short horizon's step marker (filled)
const RING_RADIUS = 5.4; // a run's logged LR (a ring, 6.5x the dot's area): told apart from the step dots
const HEIGHT = 420;      // the plot, axes included
const MARGIN = {left: 64, right: 14, top: 4, bottom: 42};

const canvas = document.getElementById("chart");
const tip = document.getElementById("tip");
const legend = document.getElementById("legend");
let meta = null, series = [], domain = null, hover = null, stamp = 0;

function post(type, extra) {
  window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, extra), "*");
}

// ---- the data -------------------------------------------------------------------------------------------------

function unpack(m, bytes) {
  const values = new Float64Array(bytes.slice().buffer);  // a copy: the protobuf's bytes may be an unaligned view
  let at = 0;
  const take = (n) => { const out = values.subarray(at, at + n); at += n; return out; };
  return m.series.map((s) => ({label: s.label, color: s.color, steps: take(s.points), lrs: take(s.points),
                               loggedSteps: take(s.logged), loggedLrs: take(s.logged)}));
}

// ---- scales and ticks -----------------------------------------------------------------------------------------

function niceStep(span, count) {
  const raw = span / Math.max(count, 1), power = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / power;
  return power * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
}

function linearTicks(lo, hi, count, integer) {
  if (!(hi > lo)) return [lo];
  let step = niceStep(hi - lo, count);
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of (Math.log10(hi / lo) < 2 ? [1, 2, 5] : [1])) {
      const v = +(m * Math.pow(10, e)).toPrecision(12);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  return out.length ? out : [lo, hi];
}

// one format per axis: "~e" on a log axis (1e-3, 2.5e-4), "~g" on a linear one (0.05, 0.1)
const formatLog = (v) => v.toExponential().replace(/\.?0+e/, "e");
const formatLinear = (v) => String(+v.toPrecision(6));
const formatStep = (v) => Math.round(v).toLocaleString("en-US");

function yScale(height) {
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const values of [s.lrs, s.loggedLrs]) for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const top = MARGIN.top + PAD, bottom = height - MARGIN.bottom - PAD;
  if (meta.log) {
    if (!(lo > 0)) { lo = 1e-3; hi = 1; }
    if (hi === lo) { lo /= 10; hi *= 10; }
    const a = Math.log(lo), b = Math.log(hi);
    return {type: "log", lo: lo, hi: hi, ticks: logTicks(lo, hi), format: formatLog,
            y: (v) => bottom - (Math.log(v) - a) / (b - a) * (bottom - top)};
  }
  lo = 0;  // the LR axis starts at zero
  if (!(hi > 0)) hi = 1;
  return {type: "linear", lo: lo, hi: hi, ticks: linearTicks(lo, hi, 8, false), format: formatLinear,
          y: (v) => bottom - (v - lo) / (hi - lo) * (bottom - top)};
}

// ---- drawing --------------------------------------------------------------------------------------------------

function epochEvery(steps) {
  const epochs = steps / meta.stepsPerEpoch;
  return [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e9].find((k) => epochs / k <= 40);
}

function draw() {
  if (!meta) return;
  const started = performance.now();
  const width = Math.max(canvas.parentElement.clientWidth, 200), height = HEIGHT, ratio = window.devicePixelRatio || 1;
  if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
    canvas.width = width * ratio; canvas.height = height * ratio;
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const left = MARGIN.left, right = width - MARGIN.right, top = MARGIN.top, bottom = height - MARGIN.bottom;
  const [x0, x1] = domain, ys = yScale(height);
  const x = (s) => left + (s - x0) / (x1 - x0) * (right - left);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#6b6f7b";

  // epoch boundaries (grey rules, every k-th when more than 40 are in view) and the step axis
  const every = epochEvery(x1 - x0), rule = every * meta.stepsPerEpoch;
  ctx.strokeStyle = "#e6e6e6"; ctx.lineWidth = 0.7; ctx.beginPath();
  for (let s = Math.max(rule, Math.ceil(x0 / rule) * rule); s <= Math.min(x1, meta.totalSteps - 1); s += rule) {
    ctx.moveTo(x(s), top); ctx.lineTo(x(s), bottom);
  }
  ctx.stroke();
  const xTicks = linearTicks(x0, x1, Math.max(2, Math.floor((right - left) / 90)), true);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of xTicks) ctx.fillText(formatStep(t), x(t), bottom + 5);
  ctx.fillStyle = "#31333f"; ctx.font = "bold 11px sans-serif";
  ctx.fillText(`optimizer step (${meta.stepsPerEpoch} per epoch; grey: every ${every === 1 ? "" : every + "th "}` +
               "epoch boundary)", (left + right) / 2, bottom + 22);

  // the LR axis
  ctx.font = "11px sans-serif"; ctx.fillStyle = "#6b6f7b"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const yTicks = [];
  let lastY = Infinity;
  for (const t of ys.ticks) {
    const py = ys.y(t);
    if (lastY - py < 14) { yTicks.push(""); continue; }  // blank a label that would overlap the one below
    yTicks.push(ys.format(t)); lastY = py;
    ctx.fillText(ys.format(t), left - 6, py);
    ctx.strokeStyle = "#f0f0f0"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(right, py); ctx.stroke();
  }
  ctx.save(); ctx.translate(12, (top + bottom) / 2); ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center"; ctx.fillStyle = "#31333f"; ctx.font = "bold 11px sans-serif";
  ctx.fillText(meta.log ? "learning rate (log scale)" : "learning rate", 0, 0); ctx.restore();
  ctx.strokeStyle = "#888"; ctx.lineWidth = 1; ctx.beginPath();
  ctx.moveTo(left, top); ctx.lineTo(left, bottom); ctx.lineTo(right, bottom); ctx.stroke();

  // the curves, clipped to the plot; each point's pixel kept for window.drawn and the hover
  ctx.save(); ctx.beginPath(); ctx.rect(left, top, right - left, bottom - top); ctx.clip();
  const drawn = [];
  for (const s of series) {
    const pys = new Array(s.lrs.length);
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = LINE_WIDTH; ctx.lineJoin = "round";
    ctx.beginPath();
    for (let i = 0; i < s.lrs.length; i++) {
      const px = x(s.steps[i]), py = pys[i] = ys.y(s.lrs[i]);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    if (meta.marked) for (let i = 0; i < s.lrs.length; i++) {
      ctx.beginPath(); ctx.arc(x(s.steps[i]), pys[i], DOT_RADIUS, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.lineWidth = 1.4;
    for (let i = 0; i < s.loggedLrs.length; i++) {
      ctx.beginPath(); ctx.arc(x(s.loggedSteps[i]), ys.y(s.loggedLrs[i]), RING_RADIUS, 0, 2 * Math.PI); ctx.stroke();
    }
    drawn.push({label: s.label, color: s.color, steps: Array.from(s.steps), lrs: Array.from(s.lrs),
                ys: pys.map((py) => py - top),  // from the plot's top edge: >= half the line width when drawn whole
                logged: Array.from(s.loggedSteps, (step, i) => [step, s.loggedLrs[i]]),
                marker: meta.marked ? {radius: DOT_RADIUS, filled: true} : null,
                ring: s.loggedLrs.length ? {radius: RING_RADIUS, filled: false} : null});
  }
  if (hover) {
    ctx.fillStyle = hover.color; ctx.beginPath(); ctx.arc(x(hover.step), ys.y(hover.lr), 4, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.restore();
  const boxes = Array.from(legend.children, (el) => {
    const b = el.getBoundingClientRect();
    return [el.textContent, b.left, b.right, b.top, b.bottom];
  });
  window.drawn = {stamp: ++stamp, renderer: "canvas", series: drawn, yType: ys.type, yTicks: yTicks,
                  xTicks: xTicks.map(formatStep), domain: [x0, x1], legend: boxes, width: right - left,
                  height: bottom - top, drawMs: performance.now() - started};
  window.scales = {x: x, y: ys.y, left: left, right: right, top: top, bottom: bottom};
}

function drawLegend() {
  legend.textContent = "";
  for (const s of series) {
    const item = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = s.color;
    item.append(swatch, s.label);
    legend.append(item);
  }
}

// ---- hover, zoom and pan of the step axis ---------------------------------------------------------------------

function nearest(mx, my) {
  if (!window.scales) return null;
  const {x, y} = window.scales;
  let best = null, bestD = 400;  // within 20 px
  for (const s of series) {
    const check = (steps, lrs, i) => {
      const dx = x(steps[i]) - mx, dy = y(lrs[i]) - my, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = {label: s.label, color: s.color, step: steps[i], lr: lrs[i]}; }
    };
    for (let i = 0; i < s.lrs.length; i++) check(s.steps, s.lrs, i);
    for (let i = 0; i < s.loggedLrs.length; i++) check(s.loggedSteps, s.loggedLrs, i);
  }
  return best;
}

let dragging = null;
canvas.addEventListener("mousemove", (e) => {
  const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
  if (dragging) {
    const {left, right} = window.scales, shift = (dragging.mx - mx) / (right - left) * (dragging.x1 - dragging.x0);
    domain = clampDomain(dragging.x0 + shift, dragging.x1 + shift);
    draw();
    return;
  }
  hover = nearest(mx, my);
  if (hover) {
    tip.innerHTML = `<b>curve</b> ${hover.label}<br><b>step</b> ${formatStep(hover.step)}<br><b>epoch (1-based)</b> ` +
      `${Math.floor(hover.step / meta.stepsPerEpoch) + 1}<br><b>LR</b> ${+hover.lr.toPrecision(6)}`;
    tip.style.display = "block";
    tip.style.left = Math.min(mx + 14, r.width - tip.offsetWidth - 4) + "px";
    tip.style.top = Math.max(my - tip.offsetHeight - 8, 0) + "px";
  } else tip.style.display = "none";
  draw();
});
canvas.addEventListener("mouseleave", () => { hover = null; dragging = null; tip.style.display = "none"; draw(); });
canvas.addEventListener("mousedown", (e) => {
  dragging = {mx: e.clientX - canvas.getBoundingClientRect().left, x0: domain[0], x1: domain[1]};
});
window.addEventListener("mouseup", () => { dragging = null; });
canvas.addEventListener("dblclick", () => { domain = fullDomain(); draw(); });
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const {left, right} = window.scales, r = canvas.getBoundingClientRect();
  const at = domain[0] + (e.clientX - r.left - left) / (right - left) * (domain[1] - domain[0]);
  const k = Math.pow(1.0015, e.deltaY);
  domain = clampDomain(at - (at - domain[0]) * k, at + (domain[1] - at) * k);
  draw();
}, {passive: false});

function fullDomain() { return [0, Math.max(meta.totalSteps - 1, 1)]; }

function clampDomain(a, b) {
  const [lo, hi] = fullDomain(), span = Math.min(Math.max(b - a, Math.min(10, hi - lo)), hi - lo);
  a = Math.min(Math.max(a, lo), hi - span);
  return [a, a + span];
}

// ---- Streamlit's protocol -------------------------------------------------------------------------------------

window.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "streamlit:render") return;
  const received = performance.now(), args = event.data.args;
  const totalBefore = meta && meta.totalSteps;
  meta = args.meta;
  series = unpack(meta, args.data);
  if (!domain || totalBefore !== meta.totalSteps) domain = fullDomain();  // a zoom stays while the run's length does
  hover = null; tip.style.display = "none";
  drawLegend();
  draw();
  window.drawn.receivedAt = received;
  // When this picture reached the screen: the frame after it was drawn (wall-clock ms, comparable with the
  // benchmark's clock), kept while the same picture is drawn again (a rerun re-sends unchanged args).
  const picture = JSON.stringify(meta);
  if (!window.shown || window.shown.picture !== picture) {
    const shown = window.shown = {picture: picture, at: null};
    requestAnimationFrame(() => { shown.at = performance.timeOrigin + performance.now(); });
  }
  post("streamlit:setFrameHeight", {height: document.body.scrollHeight});
});
window.addEventListener("resize", draw);
post("streamlit:componentReady", {apiVersion: 1});
