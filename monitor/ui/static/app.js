// The page's live part: one EventSource; tiles and the alert feed are updated in place.
"use strict";
const settings = JSON.parse(document.getElementById("settings").textContent);
const tiles = new Map([...document.querySelectorAll(".tile")].map((el) => [el.dataset.camera, el]));
const lastFrameLoad = new Map();

function sparkline(el, scores) {
  const n = scores.length;
  const pts = scores.map((s, i) => `${n > 1 ? (i * 100) / (n - 1) : 50},${(24 - s * 22 - 1).toFixed(1)}`);
  el.querySelector(".spark polyline").setAttribute("points", pts.join(" "));
}

const frameTimers = new Map();

function refreshFrame(el, camera) {
  // At most one reload per frameRefreshMs, and always one after the last event (trailing edge).
  const now = Date.now(), wait = (lastFrameLoad.get(camera) || 0) + settings.frameRefreshMs - now;
  if (wait > 0) {
    if (!frameTimers.has(camera)) {
      frameTimers.set(camera, setTimeout(() => { frameTimers.delete(camera); refreshFrame(el, camera); }, wait));
    }
    return;
  }
  lastFrameLoad.set(camera, now);
  const img = el.querySelector(".frame img");
  const next = new Image();
  next.onload = () => { img.src = next.src; img.classList.remove("none"); };
  next.src = `/frame/${encodeURIComponent(camera)}.jpg?t=${now}`;
}

function updateTile(t) {
  const el = tiles.get(t.camera);
  if (!el) return; // on another page
  el.className = `tile state-${t.state}` + (el.classList.contains("alerting") ? " alerting" : "");
  el.querySelector(".state").textContent = t.state;
  el.querySelector(".fps").textContent = t.fps == null ? "" : `${t.fps.toFixed(1)} fps`;
  el.querySelector(".text").textContent = t.text;
  sparkline(el, t.scores);
  refreshFrame(el, t.camera);
}

function matchesFilter(a) {
  return (!settings.camera || a.camera === settings.camera) && (a.severity || 0) >= settings.minSeverity;
}

function addAlert(a) {
  if (!matchesFilter(a)) return;
  const li = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
  li.className = `alert sev-${a.severity}`;
  li.dataset.alert = a.alert_id; li.dataset.camera = a.camera; li.dataset.severity = a.severity;
  li.querySelector(".sev").textContent = ["info", "suspicious", "critical"][a.severity] || "";
  li.querySelector(".phase").textContent = a.phase;
  li.querySelector(".cam").textContent = a.camera;
  li.querySelector("time").textContent = a.ts;
  li.querySelector(".title").textContent = a.title;
  li.querySelector(".summary").textContent = a.summary;
  const video = li.querySelector("video"), img = li.querySelector("img");
  if (a.clip_url) { video.hidden = false; video.preload = "auto"; video.autoplay = true; video.src = a.clip_url; }
  if (a.image_url) { img.hidden = false; img.src = a.image_url; }
  const feed = document.getElementById("feed");
  feed.prepend(li);
  while (feed.children.length > settings.feedSize) feed.lastElementChild.remove();
  const tile = tiles.get(a.camera);
  if (tile) tile.classList.toggle("alerting", a.phase !== "end");
}

function markAcked(ack) {
  document.querySelectorAll(`.alert[data-alert="${CSS.escape(ack.alert_id)}"]`).forEach((li) => {
    li.classList.add("acked");
    const b = li.querySelector(".ack"); if (b) b.textContent = "acknowledged";
  });
}

document.getElementById("feed").addEventListener("click", async (ev) => {
  const button = ev.target.closest(".ack");
  if (!button || settings.readOnly) return;
  const id = button.closest(".alert").dataset.alert;
  const r = await fetch(`/ack/${encodeURIComponent(id)}`, { method: "POST", headers: { "X-Requested-With": "monitor" } });
  if (r.ok) markAcked(await r.json());
});

tiles.forEach((el) => sparkline(el, JSON.parse(el.querySelector(".scores").textContent)));

function connect() {
  const conn = document.getElementById("conn");
  const source = new EventSource("/events");
  source.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
  source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn down"; };
  source.addEventListener("tile", (e) => updateTile(JSON.parse(e.data)));
  source.addEventListener("alert", (e) => addAlert(JSON.parse(e.data)));
  source.addEventListener("ack", (e) => markAcked(JSON.parse(e.data)));
}
connect();
