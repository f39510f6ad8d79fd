// The ECG viewer: 12 leads in the standard 3x4 layout plus a 10 s rhythm strip of lead II, on ECG
// paper (1 mm minor / 5 mm major grid; 25 or 50 mm/s; 5, 10 or 20 mm/mV) with a 1 mV calibration
// pulse at the start of each row, calipers in ms and mV, and zoom.
import { api } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const LAYOUT = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
const CAL_MM = 10;  // room on the left of each row for the calibration pulse

export async function startEcgViewer(studyId) {
  const started = performance.now();
  const wave = await api(`/api/station/studies/${studyId}/ecg`);
  const s = { gain: 10, speed: 25, zoom: 1, calipers: false, points: [] };
  const canvas = $("ecg"), ctx = canvas.getContext("2d");
  const colSeconds = Math.min(2.5, wave.seconds / 4);
  const rhythm = wave.leads.includes("II") ? "II" : wave.leads[0];

  const geometry = () => {
    const pxPerMm = 4 * s.zoom, rowMm = 3 * s.gain, colMm = colSeconds * s.speed;
    const width = CAL_MM + Math.max(4 * colMm, wave.seconds * s.speed) + 5;
    return { pxPerMm, rowMm, colMm, width, height: rowMm * 4 + 4 };
  };

  function grid(g) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let mm = 0; mm <= Math.max(g.width, g.height); mm += 1) {
      ctx.strokeStyle = mm % 5 === 0 ? "#f2a0a0" : "#fbdede";
      ctx.lineWidth = mm % 5 === 0 ? 1 : 0.5;
      const p = mm * g.pxPerMm;
      if (mm <= g.width) { ctx.beginPath(); ctx.moveTo(p, 0); ctx.lineTo(p, canvas.height); ctx.stroke(); }
      if (mm <= g.height) { ctx.beginPath(); ctx.moveTo(0, p); ctx.lineTo(canvas.width, p); ctx.stroke(); }
    }
  }

  function calibration(g, baseMm) {
    const k = g.pxPerMm, x0 = 2 * k, w = 0.2 * s.speed * k, h = s.gain * k, y = baseMm * k;
    ctx.beginPath(); ctx.moveTo(x0 - k, y); ctx.lineTo(x0, y); ctx.lineTo(x0, y - h); ctx.lineTo(x0 + w, y - h);
    ctx.lineTo(x0 + w, y); ctx.lineTo(x0 + w + k, y); ctx.stroke();
  }

  function trace(g, lead, startS, seconds, xMm, baseMm) {
    const data = wave.samples[lead];
    if (!data) return;
    const k = g.pxPerMm, first = Math.round(startS * wave.fs), n = Math.round(seconds * wave.fs);
    ctx.beginPath();
    for (let i = 0; i < n && first + i < data.length; i++) {
      const x = (xMm + (i / wave.fs) * s.speed) * k;
      const y = (baseMm - (data[first + i] / 1000) * s.gain) * k;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.stroke();
    ctx.fillText(lead, (xMm + 1) * k, (baseMm - s.gain * 1.2) * k);
  }

  function draw() {
    const g = geometry(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.ceil(g.width * g.pxPerMm * dpr); canvas.height = Math.ceil(g.height * g.pxPerMm * dpr);
    canvas.style.width = `${g.width * g.pxPerMm}px`; canvas.style.height = `${g.height * g.pxPerMm}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    grid(g);
    ctx.strokeStyle = "#000"; ctx.fillStyle = "#000"; ctx.lineWidth = 1.2; ctx.font = `${12 * s.zoom}px sans-serif`;
    LAYOUT.forEach((row, r) => {
      const base = g.rowMm * (r + 0.5) + 2;
      calibration(g, base);
      row.forEach((lead, c) => trace(g, lead, c * colSeconds, colSeconds, CAL_MM + c * g.colMm, base));
    });
    const base = g.rowMm * 3.5 + 2;
    calibration(g, base);
    trace(g, rhythm, 0, wave.seconds, CAL_MM, base);
    drawCalipers(g);
    canvas.dataset.drawn = "yes";
    if (window.__firstTracingMs === undefined) window.__firstTracingMs = performance.now() - started;
  }

  function drawCalipers(g) {
    if (s.points.length < 1) return;
    ctx.strokeStyle = "#1565c0"; ctx.lineWidth = 1.5;
    for (const [x] of s.points) { ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, canvas.height); ctx.stroke(); }
    if (s.points.length === 2) {
      const [[x1, y1], [x2, y2]] = s.points;
      const ms = (Math.abs(x2 - x1) / g.pxPerMm / s.speed) * 1000, mv = (y1 - y2) / g.pxPerMm / s.gain;
      $("caliper-out").textContent = `Δt ${ms.toFixed(0)} ms · ΔV ${mv.toFixed(2)} mV`;
    }
  }

  canvas.addEventListener("mousedown", (ev) => {
    if (!s.calipers) return;
    const r = canvas.getBoundingClientRect();
    if (s.points.length === 2) s.points = [];
    s.points.push([ev.clientX - r.left, ev.clientY - r.top]);
    draw();
  });
  $("gain").addEventListener("change", () => { s.gain = Number($("gain").value); s.points = []; draw(); });
  $("speed").addEventListener("change", () => { s.speed = Number($("speed").value); s.points = []; draw(); });
  $("zoom-in").addEventListener("click", () => { s.zoom *= 1.25; s.points = []; draw(); });
  $("zoom-out").addEventListener("click", () => { s.zoom /= 1.25; s.points = []; draw(); });
  $("calipers").addEventListener("click", (ev) => {
    s.calipers = !s.calipers; s.points = []; ev.target.setAttribute("aria-pressed", s.calipers); draw();
  });
  const cycle = (id, values) => {
    const sel = $(id), i = values.indexOf(sel.value);
    sel.value = values[(i + 1) % values.length]; sel.dispatchEvent(new Event("change"));
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea, dialog")) return;
    if (ev.key === "g") cycle("gain", ["5", "10", "20"]);
    else if (ev.key === "s") cycle("speed", ["25", "50"]);
    else if (ev.key === "c") $("calipers").click();
    else if (ev.key === "+" || ev.key === "=") $("zoom-in").click();
    else if (ev.key === "-") $("zoom-out").click();
  });
  draw();
  return wave;
}
