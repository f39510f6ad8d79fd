// The image viewer: frames rendered by the server at a window (presets for chest), zoom and pan in
// the page, length measurement from Pixel Spacing, the AI heatmap overlay, priors side by side.
import { api, el, t } from "/static/common.js";

const $ = (id) => document.getElementById(id);

export async function startImageViewer(studyId) {
  const started = performance.now();
  const info = await api(`/api/station/studies/${studyId}/images`);
  const image = info.images[0];
  if (!image) return;
  const s = { preset: "", wc: null, ww: null, invert: false, zoom: 1, fit: 1, x: 0, y: 0, measuring: false, points: [] };
  const stage = $("stage"), layer = $("layer"), img = $("image"), overlay = $("overlay"), marks = $("marks");
  for (const node of [img, overlay]) { node.style.width = `${image.columns}px`; node.style.height = `${image.rows}px`; }
  marks.setAttribute("width", image.columns); marks.setAttribute("height", image.rows);
  marks.setAttribute("viewBox", `0 0 ${image.columns} ${image.rows}`);
  $("wc").value = Math.round(image.window.center); $("ww").value = Math.round(image.window.width);

  const place = () => { layer.style.transform = `translate(${s.x}px, ${s.y}px) scale(${s.fit * s.zoom})`; };
  const fit = () => {
    s.fit = Math.min(stage.clientWidth / image.columns, stage.clientHeight / image.rows);
    s.zoom = 1; s.x = (stage.clientWidth - image.columns * s.fit) / 2; s.y = (stage.clientHeight - image.rows * s.fit) / 2; place();
  };
  const src = () => {
    const want = Math.max(stage.clientWidth, stage.clientHeight) * (window.devicePixelRatio || 1) * Math.max(1, s.zoom);
    const p = new URLSearchParams({ size: Math.min(4096, Math.max(512, 256 * Math.ceil(want / 256))) });
    if (s.preset) p.set("preset", s.preset);
    else if (s.wc !== null) { p.set("center", s.wc); p.set("width", s.ww); }
    if (s.invert) p.set("invert", "true");
    return `/api/station/studies/${studyId}/images/0/frames/0.png?${p}`;
  };
  img.addEventListener("load", () => {
    if (window.__firstImageMs === undefined) window.__firstImageMs = performance.now() - started;
    stage.dataset.loaded = "yes";
  });
  const render = () => { img.src = src(); };
  const zoomBy = (f) => {
    const cx = stage.clientWidth / 2, cy = stage.clientHeight / 2;
    s.x = cx - (cx - s.x) * f; s.y = cy - (cy - s.y) * f; s.zoom *= f; place();
  };

  // window / level
  document.querySelectorAll("[data-preset]").forEach((b) => b.addEventListener("click", () => {
    s.preset = b.dataset.preset; s.wc = s.ww = null; render();
  }));
  const manual = () => { s.preset = ""; s.wc = Number($("wc").value); s.ww = Math.max(1, Number($("ww").value)); render(); };
  $("wc").addEventListener("change", manual); $("ww").addEventListener("change", manual);
  $("invert").addEventListener("click", (ev) => { s.invert = !s.invert; ev.target.setAttribute("aria-pressed", s.invert); render(); });
  $("zoom-in").addEventListener("click", () => zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => zoomBy(0.8));
  $("reset").addEventListener("click", fit);
  stage.addEventListener("wheel", (ev) => { ev.preventDefault(); zoomBy(ev.deltaY < 0 ? 1.1 : 0.9); }, { passive: false });

  // measurement (image coordinates; mm from Pixel Spacing = [row spacing, column spacing])
  const toImage = (ev) => {
    const r = stage.getBoundingClientRect(), k = s.fit * s.zoom;
    return [(ev.clientX - r.left - s.x) / k, (ev.clientY - r.top - s.y) / k];
  };
  const showLength = (a, b) => {
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const sp = image.pixel_spacing_mm;
    const text = sp ? `${Math.hypot(dx * sp[1], dy * sp[0]).toFixed(1)} mm` : `${Math.hypot(dx, dy).toFixed(0)} px`;
    marks.replaceChildren();
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    Object.entries({ x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: "#ffeb3b", "stroke-width": 2 / (s.fit * s.zoom) })
      .forEach(([k, v]) => line.setAttribute(k, v));
    marks.append(line);
    $("measure-out").textContent = text;
  };
  $("measure").addEventListener("click", (ev) => { s.measuring = !s.measuring; s.points = []; ev.target.setAttribute("aria-pressed", s.measuring); });
  let drag = null;
  stage.addEventListener("mousedown", (ev) => {
    if (s.measuring) {
      s.points.push(toImage(ev));
      if (s.points.length === 2) { showLength(...s.points); s.points = []; }
      return;
    }
    drag = { x: ev.clientX, y: ev.clientY, sx: s.x, sy: s.y, wc: Number($("wc").value), ww: Number($("ww").value), level: ev.shiftKey };
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    if (drag.level) { $("ww").value = Math.max(1, drag.ww + (ev.clientX - drag.x) * 4); $("wc").value = drag.wc + (ev.clientY - drag.y) * 4; }
    else { s.x = drag.sx + ev.clientX - drag.x; s.y = drag.sy + ev.clientY - drag.y; place(); }
  });
  window.addEventListener("mouseup", () => { if (drag && drag.level) manual(); drag = null; });

  // AI heatmap overlay
  if (info.overlays.length) {
    const o = info.overlays[0];
    $("heatmap").disabled = false;
    $("heatmap").title = `${o.label_zh || o.label || ""} (AI)`;
    overlay.src = `/api/station/studies/${studyId}/overlays/${o.index}.png`;
    $("heatmap").addEventListener("click", (ev) => {
      overlay.hidden = !overlay.hidden; ev.target.setAttribute("aria-pressed", !overlay.hidden);
    });
  }

  // priors side by side
  const priors = await api(`/api/station/studies/${studyId}/priors`);
  if (priors.length) {
    $("priors").replaceChildren(el("option", { value: "" }, "—"),
      ...priors.map((p) => el("option", { value: p.id }, `#${p.id} ${p.modality} ${p.received_at.slice(0, 10)}`)));
  }
  $("priors").addEventListener("change", () => {
    const id = $("priors").value;
    $("prior-stage").hidden = !id;
    if (id) $("prior-image").src = `/api/station/studies/${id}/images/0/frames/0.png?size=1024`;
    fit();
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea, dialog")) return;
    const keys = { "1": "lung", "2": "mediastinum", "3": "bone" };
    if (keys[ev.key]) { s.preset = keys[ev.key]; render(); }
    else if (ev.key === "+" || ev.key === "=") zoomBy(1.25);
    else if (ev.key === "-") zoomBy(0.8);
    else if (ev.key === "0") fit();
    else if (ev.key === "m") $("measure").click();
    else if (ev.key === "h" && !$("heatmap").disabled) $("heatmap").click();
    else if (ev.key === "i") $("invert").click();
    else if (ev.key.startsWith("Arrow")) {
      const step = 40, d = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[ev.key];
      s.x += d[0]; s.y += d[1]; place();
    } else return;
    ev.preventDefault();
  });
  fit();
  render();
  window.addEventListener("resize", fit);
  return { image, t };
}
