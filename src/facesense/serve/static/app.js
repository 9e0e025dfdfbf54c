// facesense page: live camera over a WebSocket (/ws/live), photos (POST /api/analyze) and
// video jobs (POST /api/videos). Plain JavaScript, no build step, no third-party code.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#f58742", "#87f542", "#9d5ff7", "#42c5f5", "#f54287", "#f5f542"]; // stream/draw.py's _COLOURS (BGR there), so a face has one colour on the page and in the annotated video
const FRAME_WIDTH = 640; // frames are downscaled to at most this width before sending
// what an HTTP header can carry (Latin-1, no control characters): fetch() throws on anything else,
// which would read as an unreachable server; the server's token is held to the same rule
const TOKEN_CHARS = /^[\x20-\x7e\xa1-\xac\xae-\xff]+$/;
let token = (sessionStorage.getItem("facesense-token") || "").trim();
if (token && !TOKEN_CHARS.test(token)) token = "";
let health = null;

function authHeaders(used = token) {
  return used ? { Authorization: "Bearer " + used } : {};
}

function pct(p) {
  return Math.round(p * 100) + "%";
}

function labelParts(face, compact = false) { // compact: without the probabilities
  const parts = ["#" + face.track_id];
  for (const pred of [face.expression, face.gender]) if (pred) parts.push(compact ? pred.label : pred.label + " " + pct(pred.p));
  if (face.age) parts.push(ageText(face.age));
  return parts;
}

function describe(face) {
  return labelParts(face).join(" · ");
}

// A face's label in the forms tried in turn (placeLabels), as stream/draw.py label_texts gives
// them: whole on one line; without its percentages; that on two lines (id and expression, then
// gender and age); the id alone (the list under the picture has the words)
function labelTexts(parts, compact, sep) {
  const twoLines = compact.slice(0, 2).join(sep) + (compact.length > 2 ? "\n" + compact.slice(2).join(sep) : "");
  return [...new Set([parts.join(sep), compact.join(sep), twoLines, compact[0]])];
}

// As the annotated video draws it: a model unsure of the age (a child's estimate can spread over
// decades) shows the span of one sd each side, not a mean that reads as sure.
const WIDE_AGE_SD = 15;
function ageText(age) {
  if (age.sd >= WIDE_AGE_SD) return Math.round(Math.max(0, age.years - age.sd)) + "-" + Math.round(Math.min(100, age.years + age.sd)) + " y";
  return "~" + Math.round(age.years) + " y";
}

// The result table gives the distribution's central 90% interval where the model has one.
function ageCell(age) {
  const spread = age.low90 == null ? "± " + Math.round(age.sd) : "90%: " + Math.round(age.low90) + "-" + Math.round(age.high90);
  return "~" + Math.round(age.years) + " y (" + spread + ")";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function sentence(text) { // the server's messages are worded for API users: shown as a sentence
  text = String(text || "").trim();
  return text ? text[0].toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".") : text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return sentence(body.error || response.statusText);
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

const UNREACHABLE = "Could not reach the server: is it still running? Reload the page once it is.";
// a server that stops answering (suspended, or a network gone without closing the connection)
// answers nothing at all: after STALL_MS the camera says so and drops the old boxes, after
// GIVE_UP_MS it disconnects; a photo waits the server's own --timeout and GIVE_UP_MARGIN_MS more
const STALL_MS = 5000;
const GIVE_UP_MS = 30000;
const GIVE_UP_MARGIN_MS = 10000;
const BUSY_RETRIES = 5; // a photo the server is too busy for is sent again, as its Retry-After says

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fetchAnswered(url, options, ms) {
  // fetch() that gives up (TimeoutError) when no answer has begun in `ms`; an answer that has
  // begun is not cut off while its body still downloads (a large annotated photo on a slow link)
  const control = new AbortController();
  const timer = setTimeout(() => control.abort(new DOMException("no answer in time", "TimeoutError")), ms);
  return fetch(url, { ...options, signal: control.signal }).finally(() => clearTimeout(timer));
}

function within(promise, ms) { // an answer's body that stops coming (a server suspended half way) is given up on
  let timer;
  const late = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new DOMException("no answer in time", "TimeoutError")), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// the token field's problem, said in the alert below it and marked on the field (aria-invalid),
// which names the alert as its description
function tokenProblem(text) {
  $("token-problem").textContent = text;
  if (text) $("token").setAttribute("aria-invalid", "true");
  else $("token").removeAttribute("aria-invalid");
}

function needToken(problem = "") {
  tokenProblem(problem);
  $("token-box").hidden = false;
  $("token").focus();
}

function refusedToken(used = token) { // a 401 (or the camera's 1008) for the token a request carried: none, or a wrong one
  if (used !== token) return; // a token typed since: the answer is about the old one
  needToken(used ? "The server refused that token: type it again." : "");
}

function tokenText(used) { // a refused request's line in the page's words (the server's are for API users)
  return used ? "The server refused the access token: type the right one above, then choose the file again."
    : "This server needs its access token: type it above, then choose the file again.";
}

let tokenChecks = 0; // the latest submit's number: an earlier one's late answer is not about the token typed now
$("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  // trimmed as fetch() trims a header: a pasted trailing space must not work for photos and fail for the camera
  const typed = $("token").value.trim();
  if (!typed) {
    needToken("Type the token (it was empty).");
    return;
  }
  if (!TOKEN_CHARS.test(typed)) {
    needToken("That token has a character no access token can have (letters, digits, punctuation and spaces only): type it again.");
    return;
  }
  const check = ++tokenChecks;
  const typing = $("token-box").contains(document.activeElement);
  let answer; // checked before it is kept: a wrong token was taken silently, refused at the next photo
  try {
    answer = await fetch("/api/token", { headers: authHeaders(typed) });
  } catch (err) {
    answer = null; // the server is unreachable: kept, and each request says so
  }
  if (check !== tokenChecks) return;
  if (answer && answer.status === 401) {
    tokenProblem("The server refused that token: type it again.");
    if (typing && $("token-box").contains(document.activeElement)) $("token").select();
    return;
  }
  token = typed;
  sessionStorage.setItem("facesense-token", token);
  tokenProblem("");
  $("token-box").hidden = true;
  // the box, and the field or button the keyboard was on, are hidden: the focus goes to the
  // camera's heading, where a second Enter starts nothing
  if (typing && focusIsLost()) $("camera-title").focus({ preventScroll: true });
});

fetch("/api/health").then((r) => r.json()).then((h) => {
  health = h;
  if (h.token_required && !token) needToken();
}).catch(() => {}); // no answer: each action says so itself (this was an uncaught error in the console)

// ---------------------------------------------------------------- live camera
const live = {
  stream: null, ws: null, inFlight: false, askedAt: 0, sentAt: 0, last: null, recording: false, stalled: false, watchdog: 0,
  recordAsks: 0, // record asks not answered yet
  times: [], rtts: [], running: false,
  colours: new Map(), // each track's colour, kept while the camera runs (colourIndices)
  labels: [], labelsFor: null, labelsKey: "", // the last answer's labels as placed (placeLabels)
  recordStarts: [], // when each recording not yet ended began
};
const grab = document.createElement("canvas");
const video = $("camera-video");
const canvas = $("camera-canvas");
const ctx = canvas.getContext("2d");

function focusIsLost() { // a button that disabled itself, or one in a box just hidden, leaves the focus on <body>
  const active = document.activeElement;
  return !active || active === document.body || active.disabled || Boolean(active.closest("[hidden]"));
}

function setStatus(text) {
  $("camera-status").textContent = text;
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("This browser gives no camera to this page: open it on localhost or over https.");
    return;
  }
  const fromStart = document.activeElement === $("camera-start"); // the keyboard is on it: Stop takes it over once enabled
  $("camera-start").disabled = true;
  setStatus("Asking for the camera…");
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    const why = {
      NotAllowedError: "the browser was not allowed to use it. Allow the camera for this page (the camera icon in the address bar, or the site's settings), then press Start camera again.",
      NotFoundError: "none was found. Connect one and press Start camera again, or analyse a photo or a video below.",
      NotReadableError: "another program is using it. Close that program and press Start camera again.",
    };
    setStatus("No camera: " + (why[err.name] || err.message));
    $("camera-start").disabled = false;
    if (fromStart && focusIsLost()) $("camera-start").focus({ preventScroll: true }); // it disabled itself under the keyboard: the focus fell to <body>
    return;
  }
  const stream = live.stream;
  // a camera unplugged or taken by the system ends its track: the page said "Camera on" and sent black frames
  stream.getVideoTracks().forEach((track) => track.addEventListener("ended", () => {
    if (live.stream !== stream) return; // stopped here already (a track we stop fires no "ended")
    live.cameraLost = true;
    if (!live.stopping) stopCamera(true); // a recording is finished first (and one being finished is waited for)
  }));
  video.srcObject = live.stream;
  await video.play().catch(() => {});
  if (live.stream !== stream) return; // the camera ended while it started: stopped, and said
  canvas.hidden = false;
  $("camera-stats").hidden = false; // (hidden while the camera is off: "— FPS · latency — ms" was read out as dashes)
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const wsToken = token;
  const ws = new WebSocket(scheme + "//" + location.host + "/ws/live" + (wsToken ? "?token=" + encodeURIComponent(wsToken) : ""));
  live.ws = ws;
  live.fromStart = fromStart; // a connection that fails before it opens gives the focus back to Start (stopCamera)
  live.opened = false;
  live.connectingSince = performance.now();
  setStatus("Connecting to the server…");
  live.running = true;
  live.times = [];
  live.colours = new Map(); // a new connection numbers its tracks from #1 again
  live.recordAsks = 0;
  live.recordStarts = [];
  live.rtts = [];
  ws.onopen = () => {
    live.opened = true;
    setStatus(CAMERA_ON);
    $("camera-stop").disabled = false;
    $("record").disabled = false;
    if (fromStart && focusIsLost()) $("camera-stop").focus({ preventScroll: true }); // Start disabled itself under the keyboard
    live.fromStart = false;
    sendFrame();
  };
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (live.ws !== ws) return; // a connection already replaced by Stop and Start: not this session's end
    const reasons = { 1008: wsToken ? "the server refused the access token; type the right one above and press Start camera again" : "this server needs its access token; type it above and press Start camera again", 1009: "a camera frame was larger than this server takes; use a lower camera resolution", 1013: "the server has too many cameras connected; try again later" };
    // a server stopped (Ctrl-C, a restart: 1012), killed or cut off by the network (1006, no
    // close frame) or failing (1011) said only "the connection closed", with no way on
    const ended = { 1001: "the server went away", 1006: "the connection to the server was lost (it stopped, or the network went)", 1011: "the server had an error", 1012: "the server stopped or is restarting" };
    if (event.code === 1008) refusedToken(wsToken);
    // a server that was never reached (stopped before Start was pressed) is said as photos say it
    const closed = !live.opened ? "could not reach the server; is it still running? Press Start camera again once it is"
      : event.reason ? event.reason + "; press Start camera again"
      : (ended[event.code] || "the connection closed") + "; press Start camera again once the server answers";
    if (live.running) setStatus("Disconnected: " + (reasons[event.code] || closed) + "." + lostRecording());
    stopCamera(false);
  };
  clearInterval(live.watchdog);
  live.watchdog = setInterval(checkStall, 1000);
  requestAnimationFrame(drawLoop);
}

const CAMERA_ON = "Camera on: frames go to the server, are analysed in memory and are not kept.";
const NO_STATS = "— FPS · latency — ms";

function lostRecording() { // a recording is kept by the server only when finished before the connection closes
  return live.recording || live.recordAsks > 0 ? " The recording was not finished, so it is not kept." : "";
}

function abandonConnection(status) {
  // given up on: its close, whenever the network lets it happen, is not news any more
  const ws = live.ws;
  live.ws = null;
  if (ws) ws.close();
  setStatus(status);
  stopCamera(false);
}

function checkStall() {
  // a server that takes the connection but never answers its handshake (suspended) left the page
  // on "Connecting…" with both buttons disabled until the browser's own limit
  if (live.running && live.ws && live.ws.readyState === 0 && performance.now() - live.connectingSince >= 2 * STALL_MS) {
    abandonConnection("Could not reach the server: no answer in " + Math.round(2 * STALL_MS / 1000) + " s. Is it still running? Press Start camera again once it is.");
    return;
  }
  // the frame in flight has had no answer: the boxes drawn are of a picture long gone
  if (!live.running || !live.inFlight) return;
  const waited = performance.now() - live.askedAt;
  if (waited >= GIVE_UP_MS) {
    abandonConnection("Disconnected: the server gave no answer for " + Math.round(waited / 1000) + " s (it stopped, or the network went). Press Start camera again once it answers." + lostRecording());
  } else if (waited >= STALL_MS && !live.stalled) { // said once: the status is read out at every change
    live.stalled = true;
    live.last = null;
    $("camera-faces").replaceChildren();
    $("camera-stats").textContent = NO_STATS;
    setStatus("Waiting for the server: it has not answered for " + Math.round(STALL_MS / 1000) + " s. The labels come back when it answers; the camera disconnects after " + Math.round(GIVE_UP_MS / 1000) + " s.");
  }
}

function stopCamera(byUser = true) {
  if (byUser && (live.recording || live.recordAsks > 0) && live.ws && live.ws.readyState === 1 && !live.stopping) {
    // the server keeps a recording only when asked to finish it before the connection closes:
    // finish it, offer its files, then stop (a server that never answers is left after 10 s)
    // (a recording just stopped, its answer still to come, is waited for too)
    live.stopping = true;
    live.running = false;
    if (live.recording) askRecord(false);
    live.recording = false;
    setStatus("Finishing the recording…");
    $("camera-stop").disabled = true;
    $("record").disabled = true;
    live.stopTimer = setTimeout(() => stopCamera(true), 10000);
    return;
  }
  clearTimeout(live.stopTimer);
  clearInterval(live.watchdog);
  // the keyboard on a camera button that this disables (Stop, Record, or Start still connecting)
  // goes back to Start, not to <body> (a server gone or refusing left it there)
  const fromControls = live.fromStop || live.fromStart || document.querySelector("#camera .controls").contains(document.activeElement);
  live.stalled = false;
  const finished = live.stopping && !live.recordAsks;
  const lost = live.stopping && live.recordAsks > 0; // the connection closed, or no answer in 10 s
  live.stopping = false;
  live.running = false;
  if (live.ws && live.ws.readyState <= 1) live.ws.close();
  if (live.stream) live.stream.getTracks().forEach((t) => t.stop());
  live.stream = null;
  live.inFlight = false;
  live.recording = false;
  live.recordAsks = 0;
  showRecordButton();
  $("record").disabled = true;
  $("camera-stop").disabled = true;
  $("camera-start").disabled = false;
  live.last = null; // the last frame's faces are not in the picture any more
  $("camera-faces").replaceChildren();
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  canvas.hidden = true; // no grey box and old figures standing for a camera that is off
  $("camera-stats").textContent = NO_STATS;
  $("camera-stats").hidden = true;
  const off = live.cameraLost ? "Camera off: it stopped sending (unplugged, or taken by another program). " : "Camera off. ";
  live.cameraLost = false;
  if (lost) setStatus(off + "The server did not finish the recording in time, so it is not offered here.");
  else if (byUser) setStatus(finished ? off + $("camera-status").dataset.recorded : off.trim());
  if (fromControls && focusIsLost()) $("camera-start").focus({ preventScroll: true }); // Stop disabled itself under the keyboard
  live.fromStop = live.fromStart = false;
}

function sendFrame() {
  // at most one frame in flight: the next is taken only when the answer to this one is in
  if (!live.running || live.inFlight || !live.ws || live.ws.readyState !== 1 || !video.videoWidth) {
    if (live.running && !live.inFlight) setTimeout(sendFrame, 30);
    return;
  }
  const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  live.inFlight = true;
  live.askedAt = performance.now();
  grab.toBlob((blob) => {
    if (!live.running || !live.ws || live.ws.readyState !== 1) { live.inFlight = false; return; }
    live.sentAt = performance.now();
    live.ws.send(blob);
  }, "image/jpeg", 0.75);
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

function onMessage(m) {
  if (m.type === "result" || m.type === "busy" || m.type === "error") {
    live.inFlight = false;
    const now = performance.now();
    if (live.stalled && !live.stopping) setStatus(live.recording ? RECORDING : CAMERA_ON); // answering again
    live.stalled = false;
    if (m.type === "result") {
      live.last = m;
      live.times = [...live.times, now].slice(-30);
      live.rtts = [...live.rtts, now - live.sentAt].slice(-30);
      const span = (live.times[live.times.length - 1] - live.times[0]) / 1000;
      const fps = live.times.length > 1 && span > 0 ? (live.times.length - 1) / span : 0;
      $("camera-stats").textContent = (fps ? fps.toFixed(1) : "—") + " FPS · latency " + Math.round(median(live.rtts)) + " ms";
      showFaces(m.faces);
    } else if (m.type === "error") {
      setStatus("Frame refused: " + m.error);
    }
    if (m.recording) { // the server ended a recording that reached its length limit
      if (!live.recordAsks) live.recording = false; // (with presses unanswered, their answers say how things stand)
      showRecording(m.recording);
      showRecordButton();
    }
    setTimeout(sendFrame, m.type === "busy" ? m.retry_ms || 200 : 0);
  } else if (m.type === "recording") {
    // one answer per ask, in order: only the answer to the last ask says how things stand (Record
    // pressed three times quickly must end recording, as the button says)
    live.recordAsks = Math.max(0, live.recordAsks - 1);
    const settled = live.recordAsks === 0;
    if (settled) live.recording = m.on;
    if (!m.on && !m.unchanged) showRecording(m); // (a recording of no frame has no csv: showRecording says so)
    if (settled) showRecordButton();
    if (settled && m.on && !live.stopping) setStatus(RECORDING);
    if (settled && live.stopping) stopCamera(true); // Stop was pressed while recording: now it stops
  }
}

function showFaces(faces) {
  const list = $("camera-faces");
  list.replaceChildren(...faces.map((f) => el("li", { text: describe(f) })));
  if (!faces.length) list.append(el("li", { text: "no face found" }));
}

// Where a face's label goes, as the server's annotation places it (stream/draw.py _free_spot):
// just above its box, else just below, else further down a label at a time; starting at the
// box's left edge, else ending at its right edge; the first place inside the picture that covers
// neither a label already drawn nor another face, else the first that covers no label, else the
// top of the picture (a face that fills the camera had its label drawn below the picture)
const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

function freeSpot(box, w, h, width, height, placed, faces, rowsDown = 3) {
  const [x0, y0, x1, y1] = box;
  const above = y0 - h;
  let tops = (above >= 0 ? [above] : []).concat([...Array(rowsDown + 1).keys()].map((i) => y1 + i * h)).filter((t) => t >= 0 && t + h <= height);
  if (!tops.length) tops = [Math.max(0, Math.min(above, height - h))];
  const lefts = [...new Set([x0, x1 - w].map((x) => Math.max(0, Math.min(x, width - w))))]; // a face near the right edge keeps its whole label in view
  const spots = tops.flatMap((t) => lefts.map((l) => [l, t, l + w, t + h]));
  for (const avoid of [placed.concat(faces), placed]) {
    const spot = spots.find((r) => !avoid.some((o) => overlaps(r, o)));
    if (spot) return spot;
  }
  return spots[0];
}

// Each face's label and where it goes, as the server's annotation picks them (stream/draw.py
// _place_labels): every label at one length (labelTexts: longest first), the longest with which
// none covers another label or a face, beside its box before further down, else the length that
// covers least; then each label as long as it fits where it is without covering anything.
// boxes: [x0, y0, x1, y1]; sizeOf(text): its box's [w, h]; fixed: places taken already
function placeLabels(boxes, forms, sizeOf, width, height, fixed = []) {
  if (!boxes.length) return [];
  const others = boxes.map((_, i) => boxes.filter((_, j) => j !== i));
  const covers = (i, rect, labels) => labels.some((o) => overlaps(rect, o)) ? 2 : others[i].some((o) => overlaps(rect, o)) ? 1 : 0;
  const rest = (chosen, i) => fixed.concat(chosen.filter((_, j) => j !== i).map((c) => c.rect));
  const levels = Math.max(0, ...forms.map((f) => f.length));
  let best = null;
  for (const rowsDown of [0, 3]) { // a label three rows down, under another face's box, read as that face's
    for (let level = 0; level < levels; level++) {
      const placed = fixed.slice(), chosen = [];
      boxes.forEach((box, i) => {
        const text = forms[i][Math.min(level, forms[i].length - 1)];
        const [w, h] = sizeOf(text);
        chosen.push({ text, rect: freeSpot(box, w, h, width, height, placed, others[i], rowsDown) });
        placed.push(chosen[i].rect);
      });
      const counts = [0, 0, 0];
      chosen.forEach((c, i) => { counts[covers(i, c.rect, rest(chosen, i))] += 1; });
      const score = [counts[2], counts[1]];
      if (best === null || score[0] < best.score[0] || (score[0] === best.score[0] && score[1] < best.score[1])) best = { score, level, chosen };
      if (score[0] === 0 && score[1] === 0) break;
    }
    if (best.score[0] === 0 && best.score[1] === 0) break;
  }
  const chosen = best.chosen;
  boxes.forEach((box, i) => { // longer where it still covers nothing, now that every label has its place
    const taken = rest(chosen, i);
    // a label put further down (some face had no room beside its box) goes beside its own box in
    // the longest form that covers nothing there: three rows down, it read as another face's
    const further = chosen[i].rect[1] > box[3];
    for (const text of further ? forms[i] : forms[i].slice(0, Math.min(best.level, forms[i].length - 1))) {
      const [w, h] = sizeOf(text);
      const rect = freeSpot(box, w, h, width, height, taken, others[i], 0);
      if (!covers(i, rect, taken)) { chosen[i] = { text, rect }; break; }
    }
  });
  return chosen;
}

// Each face's colour, as the server's annotation picks it (stream/draw.py colour_indices): its
// track's own (id modulo the colours), unless a face of a lower id in the frame has it; then the
// next colour no face of the frame has (#6 and #12 side by side had the same colour). `kept`:
// each track's colour from earlier frames, which it keeps (it changed back when the other left)
function colourIndices(ids, kept = new Map()) {
  const n = COLOURS.length, taken = new Set(), chosen = new Map();
  const order = [...new Set(ids)].sort((a, b) => (kept.has(b) - kept.has(a)) || a - b); // colours held from before first
  for (const id of order) {
    const own = kept.has(id) ? kept.get(id) : ((id % n) + n) % n;
    let pick = own;
    for (let k = 0; k < n; k++) if (!taken.has((own + k) % n)) { pick = (own + k) % n; break; }
    taken.add(pick);
    chosen.set(id, pick);
    kept.set(id, pick);
  }
  return ids.map((id) => chosen.get(id));
}

function drawLoop() {
  if (!live.running) return;
  if (video.videoWidth) {
    if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) { // a 640x480 camera on the 640x360 start size: cut and boxes misplaced
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
    }
    ctx.drawImage(video, 0, 0);
    const m = live.last;
    if (m) {
      const sx = canvas.width / m.width, sy = canvas.height / m.height;
      ctx.lineWidth = Math.max(2, canvas.width / 320);
      ctx.font = Math.max(14, Math.round(canvas.width / 28)) + "px system-ui, sans-serif";
      const boxes = m.faces.map((f) => [f.box.x * sx, f.box.y * sy, (f.box.x + f.box.w) * sx, (f.box.y + f.box.h) * sy]);
      const colours = colourIndices(m.faces.map((f) => f.track_id), live.colours).map((c) => COLOURS[c]);
      m.faces.forEach((f, i) => {
        ctx.strokeStyle = colours[i];
        ctx.strokeRect(boxes[i][0], boxes[i][1], boxes[i][2] - boxes[i][0], boxes[i][3] - boxes[i][1]);
      });
      const px = parseInt(ctx.font, 10), gap = 4; // a label's lines: px high, gap apart, 3 px above and below
      const sizeOf = (text) => {
        const lines = text.split("\n");
        return [Math.max(...lines.map((line) => ctx.measureText(line).width)) + 8, lines.length * (px + gap) - gap + 6];
      };
      // placed once per answer and canvas size, not at every screen refresh in between
      const key = canvas.width + "x" + canvas.height + " " + ctx.font;
      if (live.labelsFor !== m || live.labelsKey !== key) {
        const forms = m.faces.map((f) => labelTexts(labelParts(f), labelParts(f, true), " · "));
        live.labels = placeLabels(boxes, forms, sizeOf, canvas.width, canvas.height);
        live.labelsFor = m;
        live.labelsKey = key;
      }
      live.labels.forEach((label, i) => { // after all boxes: no box line crosses a label
        const [lx, ty, rx, by] = label.rect;
        ctx.fillStyle = colours[i];
        ctx.fillRect(lx, ty, rx - lx, by - ty);
        ctx.fillStyle = "#000";
        label.text.split("\n").forEach((line, k) => ctx.fillText(line, lx + 4, ty + px + k * (px + gap)));
      });
    }
  }
  requestAnimationFrame(drawLoop);
}

const RECORDING = "Recording: each frame's labels (no images) are kept for this connection until you stop.";

function askRecord(on) {
  live.recordAsks += 1;
  live.ws.send(JSON.stringify({ record: on }));
}

function toggleRecord() {
  if (!live.ws || live.ws.readyState !== 1 || live.stopping) return;
  live.recording = !live.recording;
  if (live.recording) live.recordStarts.push(new Date()); // its files are named by when it began
  askRecord(live.recording);
  showRecordButton();
  if (live.recording) setStatus(RECORDING);
}

function showRecordButton() {
  $("record").classList.toggle("on", live.recording); // (its words say its state: no aria-pressed to say it twice)
  $("record").textContent = live.recording ? "Stop recording" : "Record";
}

function frames(n) {
  return n + (n === 1 ? " frame" : " frames");
}

function recordingStamp(d) { // local time, as the user's clock reads: camera-2026-12-07-2043-05
  const two = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + "-" + two(d.getHours()) + two(d.getMinutes()) + "-" + two(d.getSeconds());
}

function showRecording(r) {
  // a recording that ended: its files offered; the status says so unless a new one is under way
  const say = (text) => {
    $("camera-status").dataset.recorded = text;
    setStatus(live.recording ? RECORDING : text);
  };
  const started = live.recordStarts.shift() || new Date(); // (recordings end in the order they began)
  if (!r.csv) { // stopped before a frame was analysed: nothing was kept
    say("Recording stopped before any frame was analysed: nothing to download.");
    return;
  }
  const stem = "camera-" + recordingStamp(started);
  const box = el("div", { class: "downloads" },
    el("p", { text: "Recording: " + frames(r.frames) + "." }),
    downloadLink(r.csv, stem, "frames.csv", "Per-frame log (CSV)"));
  if (r.timeline) {
    box.append(downloadLink(r.timeline, stem, "timeline.png", "Timeline (PNG)"));
    box.append(fullSize(r.timeline, "Expression of each tracked face over time"));
  }
  $("recordings").prepend(box);
  say("Recording finished: " + frames(r.frames) + "; download below.");
}

$("camera-start").addEventListener("click", startCamera);
$("camera-stop").addEventListener("click", () => {
  live.fromStop = document.activeElement === $("camera-stop");
  stopCamera(true);
});
$("record").addEventListener("click", toggleRecord);

// ---------------------------------------------------------------- photos
function faceTable(faces) {
  const attrs = ["expression", "gender", "age"].filter((k) => faces.some((f) => f[k]));
  const head = el("tr", {}, el("th", { scope: "col", text: "face" }), ...attrs.map((k) => el("th", { scope: "col", text: k })));
  const rows = faces.map((f) => el("tr", {}, el("td", { text: "#" + f.track_id }), ...attrs.map((k) => {
    const v = f[k];
    if (!v) return el("td", { text: "—" });
    return el("td", { text: k === "age" ? ageCell(v) : v.label + " " + pct(v.p) });
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

async function analysePhoto(file) {
  const card = el("article", { class: "card", "aria-busy": "true" }, el("h3", { text: file.name }), el("p", { text: "Analysing…" }));
  $("photo-cards").append(card);
  if (file.size === 0) { // the server's answer is worded for API users
    card.setAttribute("aria-busy", "false");
    card.lastChild.replaceWith(el("p", { class: "error", role: "alert", text: "The file is empty (0 bytes): choose the photo again." }));
    return;
  }
  if (/^video\//.test(file.type)) { // the API's answer names an endpoint
    card.setAttribute("aria-busy", "false");
    card.lastChild.replaceWith(el("p", { class: "error", role: "alert", text: file.name + " is a video: choose it under Video file below." }));
    return;
  }
  let response;
  const tokenUsed = token;
  // the server bounds a photo's upload and analysis by its --timeout: one that has not answered
  // by then and a margin more has stopped, or the network went without closing the connection
  const limit = ((health && health.limits && health.limits.request_timeout_s) || 30) * 1000 + GIVE_UP_MARGIN_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      response = await fetchAnswered("/api/analyze", { method: "POST", body: file, headers: authHeaders() }, limit);
    } catch (err) {
      const text = err.name === "TimeoutError" ? "No answer from the server in " + Math.round(limit / 1000) + " s: is it still running? Choose the photo again once it answers." : UNREACHABLE;
      card.setAttribute("aria-busy", "false");
      card.lastChild.replaceWith(el("p", { class: "error", role: "alert", text }));
      return;
    }
    const wait = Number(response.headers.get("Retry-After"));
    if (response.status !== 503 || !wait || attempt >= BUSY_RETRIES) break;
    card.lastChild.replaceWith(el("p", { text: "The server is busy: trying again in " + wait + " s…" })); // (it says when, in Retry-After)
    await sleep(wait * 1000);
    card.lastChild.replaceWith(el("p", { text: "Analysing…" }));
  }
  if (!response.ok) {
    if (response.status === 401) refusedToken(tokenUsed);
    // (an error whose body stops coming is said by its status, not left "Analysing…" for good)
    const text = response.status === 401 ? tokenText(tokenUsed) : await within(errorText(response), limit).catch(() => response.status + " " + response.statusText);
    card.lastChild.replaceWith(el("p", { class: "error", role: "alert", text }));
    card.setAttribute("aria-busy", "false"); // (after its error is read: it was marked done while still "Analysing…")
    return;
  }
  let r;
  try {
    r = await within(response.json(), limit);
  } catch (err) { // the connection went while the answer came
    card.setAttribute("aria-busy", "false");
    card.lastChild.replaceWith(el("p", { class: "error", role: "alert", text: "The answer was cut off (the server stopped, or the network went): choose the photo again." }));
    return;
  }
  const summary = r.faces.length === 0 ? "No face found" : r.faces.length === 1 ? "1 face" : r.faces.length + " faces";
  const line = summary + (r.sentiment ? " · photo's mood: " + r.sentiment.label + " " + pct(r.sentiment.p) : "") + (r.warning ? " (" + r.warning + ")" : "");
  // the annotated photo full size in a tab of its own (a card is too narrow to read its labels), and to keep
  const bytes = Uint8Array.from(atob(r.annotated_jpeg_base64), (c) => c.charCodeAt(0));
  const annotated = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
  const stem = file.name.replace(/\.[^.]*$/, "");
  const parts = [fullSize(annotated, file.name + ": " + (r.faces.length ? summary.toLowerCase() + " marked" : "no face found")),
    el("p", { text: line }),
    el("p", { class: "downloads" }, downloadLink(annotated, stem, "annotated.jpg", "Annotated photo (JPEG)"))];
  if (r.faces.length) parts.push(faceTable(r.faces));
  card.lastChild.replaceWith(...parts);
  announcePhoto(file.name + ": " + line); // a screen reader heard nothing when a photo's result came
  card.setAttribute("aria-busy", "false"); // (only now: the card was read as done while its answer was still being read)
}

// an image that opens full size in a tab of its own: on a phone a card or the page is too
// narrow to read an annotated photo's labels or a timeline's panels
function downloadLink(href, stem, suffix, text) {
  // saved under its source's name (two videos' files were both "annotated.mp4", the second saved as
  // "annotated (1).mp4"), and named by it to a screen reader, whose list of links read "Annotated
  // photo (JPEG)" once per photo; the visible words stay first in the name, so voice control finds them
  return el("a", { href, download: stem + "-" + suffix, text, "aria-label": text + ": " + stem });
}

function fullSize(src, alt) {
  return el("a", { class: "full-size", href: src, target: "_blank", rel: "noopener", title: "Open full size" }, el("img", { src, alt }));
}

function announcePhoto(text) {
  // added, not replaced: two photos answered together are both read; the last few are kept
  const region = $("photo-announce");
  region.append(el("p", { text }));
  while (region.childElementCount > 3) region.firstElementChild.remove();
}

// each input is emptied as soon as its files are taken: the same file chosen again (after a
// Cancel, or while the first is still being analysed) is then a change, not ignored
$("photo-input").addEventListener("change", async (event) => {
  const pending = [...event.target.files];
  event.target.value = "";
  // two at a time: the server runs a bounded number of analyses and refuses the rest
  const worker = async () => { while (pending.length) await analysePhoto(pending.shift()); };
  await Promise.all([worker(), worker()]);
});

// ---------------------------------------------------------------- video files
const LOST_JOB = "The server no longer has this job: it was restarted (a restart removes every upload and result), or the job was deleted. Choose the video again.";
let videoUpload = 0; // the newest upload owns the job box: an earlier one's polling stops
let videoDrop = null; // drops the upload being sent (see postVideo)
let videoJob = null; // the newest job's status URL: a job replaced before it is done is cancelled on the server

function dropVideo(keepalive = false) {
  // the upload being sent is stopped and the job the page follows cancelled on the server, which
  // would otherwise go on processing a video nobody waits for, ahead of the next one in its queue
  if (videoDrop) videoDrop();
  if (videoJob) fetch(videoJob, { method: "DELETE", headers: authHeaders(), keepalive }).catch(() => {});
  videoDrop = videoJob = null;
}

function postVideo(file, sending = () => {}) { // sending(share): how much of the body is sent
  // XMLHttpRequest, not fetch: it says when the body is all sent. A drop before then aborts the
  // upload; after it the server may already have made the job, which an abort would leave
  // running unseen, so the answer is awaited and its job cancelled (`dropped`)
  const xhr = new XMLHttpRequest();
  const upload = { sent: false, dropped: false };
  const drop = () => {
    upload.dropped = true;
    if (!upload.sent) xhr.abort();
  };
  videoDrop = drop;
  xhr.onloadend = () => { if (videoDrop === drop) videoDrop = null; }; // answered (a refusal too) or failed: no upload left to stop
  upload.answer = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/videos");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onload = () => { upload.sent = true; };
    xhr.upload.onprogress = (event) => { if (event.lengthComputable && event.total) sending(event.loaded / event.total); };
    xhr.onload = () => resolve({
      ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, statusText: xhr.statusText,
      json: async () => JSON.parse(xhr.responseText),
    });
    xhr.onerror = () => reject(new TypeError("the upload failed"));
    xhr.onabort = () => reject(new DOMException("dropped", "AbortError"));
    xhr.send(file);
  });
  return upload;
}

async function pollStatus(url, used) {
  // a status the network lost once is asked again (back-off to 8 s, about 15 s in all) before
  // the page gives up on a job the server may still be running; so is a busy or timed-out answer
  for (let wait = 500; ; wait *= 2) {
    try {
      // a server that stopped answering would hold an unbounded request for good
      const r = await fetchAnswered(url, { headers: authHeaders(used) }, GIVE_UP_MARGIN_MS);
      if (r.ok || (r.status < 500 && r.status !== 408 && r.status !== 429) || wait > 8000) return r;
    } catch (err) {
      if (!(err instanceof TypeError || err.name === "TimeoutError") || wait > 8000) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

let videoShown = null; // the name of the video whose job the box shows

function keepEarlierVideo(next) {
  // a new video took the job box and threw away the last one's results (their links too) and
  // cancelled a running job unsaid: a finished job's links move to a list, a cancelled one is said
  if (videoShown === null) return;
  const links = $("video-result").querySelector(".downloads");
  const item = links ? el("li", {}, videoShown + ": ", ...Array.from(links.childNodes, (a) => a.cloneNode(true)))
    : videoJob ? el("li", { text: videoShown + ": cancelled unfinished when " + next + " was chosen" })
    : videoDrop ? el("li", { text: videoShown + ": upload stopped when " + next + " was chosen" }) : null;
  if (!item) return;
  $("video-earlier-list").prepend(item);
  $("video-earlier").hidden = false;
}

async function uploadVideo(file) {
  const mine = ++videoUpload;
  const current = () => mine === videoUpload;
  keepEarlierVideo(file.name);
  videoShown = file.name;
  dropVideo();
  let announced = "";
  const announce = (text) => { if (current() && text !== announced) $("video-announce").textContent = announced = text; };
  const box = $("video-job"), state = $("video-state"), bar = $("video-progress"), result = $("video-result");
  const cancel = $("video-cancel");
  const hideCancel = () => { // the keyboard on Cancel (pressed, or the job ended under it) goes to the video chooser, not to <body>
    const held = document.activeElement === cancel;
    cancel.hidden = true;
    if (held) $("video-input").focus({ preventScroll: true });
  };
  const fail = (title, text) => {
    if (!current()) return;
    hideCancel();
    state.textContent = title; // (not announced: the alert below is read, and "Cancelled" then "You cancelled…" said it twice)
    result.replaceChildren(el("p", { class: "error", role: "alert", text }));
  };
  box.hidden = false;
  result.replaceChildren();
  bar.value = 0;
  state.textContent = "Uploading " + file.name + "…";
  cancel.hidden = false;
  cancel.onclick = () => {
    dropVideo();
    fail("Cancelled", "You cancelled " + file.name + ": choose a video to start again.");
    bar.value = 0;
    videoUpload++; // this upload's polling stops
  };
  if (file.size === 0) { fail("Refused", "The file is empty (0 bytes): choose the video again."); return; }
  const most = health && health.limits ? health.limits.max_video_mb : null;
  if (most && file.size > most * 2 ** 20) { // said before the upload: a refusal mid-upload can reach the page as a broken connection
    fail("Refused", file.name + " is " + (file.size / 2 ** 20).toFixed(1) + " MB; this server takes videos up to " + most + " MB (facesense serve --max-video-mb): choose a shorter or smaller video.");
    return;
  }
  const tokenUsed = token;
  try {
    // a large video on a slow link showed "Uploading…" and an empty bar for minutes: the bar and
    // the line follow the upload (the bar then starts again for the processing)
    const upload = postVideo(file, (share) => {
      if (!current() || upload.dropped) return;
      bar.value = share;
      state.textContent = "Uploading " + file.name + "… " + pct(share);
    });
    const response = await upload.answer;
    if (!response.ok && (upload.dropped || !current())) return; // refused, and nobody waits for it any more
    if (!response.ok) {
      if (response.status === 401) refusedToken(tokenUsed);
      bar.value = 0; // the upload's share sent: a full bar beside "Refused" read as done
      fail("Refused", response.status === 401 ? tokenText(tokenUsed) : await errorText(response));
      return;
    }
    const job = await response.json();
    if (upload.dropped || !current()) { // dropped once sent, or another video chosen meanwhile: nobody follows this job
      fetch(job.status, { method: "DELETE", headers: authHeaders(), keepalive: true }).catch(() => {});
      return;
    }
    videoDrop = null;
    videoJob = job.status;
    while (current()) {
      const r = await pollStatus(job.status, tokenUsed);
      if (!current()) return;
      if (!r.ok) {
        if (r.status === 401) refusedToken(tokenUsed);
        if (r.status !== 404) dropVideo(); // given up on: not left running unseen
        else videoJob = null; // gone from the server: not a job the next video cancels ("cancelled unfinished" under Earlier videos)
        // a job followed until now is never one whose files made room for newer ones: a 404 is a
        // server restarted meanwhile (it starts with no job), or a job deleted through the API
        fail("Failed", r.status === 401 ? tokenText(tokenUsed) : r.status === 404 ? LOST_JOB : await errorText(r));
        return;
      }
      const s = await within(r.json(), GIVE_UP_MARGIN_MS);
      if (!current()) return;
      bar.value = s.progress;
      // a header can declare fewer frames than the video has: then no total is shown
      const of = s.frames_total >= s.frames_done ? " of " + s.frames_total : "";
      state.textContent = s.state === "queued" ? "Waiting for the video before it…" : s.state === "running" ? "Processing " + file.name + ": frame " + s.frames_done + of : s.state === "done" ? "Done: " + file.name + (s.frames_unreadable ? " (" + s.frames_unreadable + " damaged frames could not be decoded and were skipped)" : "") + (s.warning ? ": " + s.warning : "") + (s.faces === 0 ? " (no face was found in the video)" : "") : s.state === "cancelled" ? "Cancelled" : "Failed";
      announce(s.state === "running" ? "Processing " + file.name : s.state === "queued" ? "Waiting" : s.state === "done" ? state.textContent : "");
      if (s.state === "done" || s.state === "failed" || s.state === "cancelled") { // ended: nothing to cancel, its files stay
        videoJob = null;
        hideCancel();
      }
      if (s.state === "failed") { fail("Failed", sentence(s.error)); return; }
      if (s.state === "cancelled") { fail("Cancelled", "The job was cancelled before it finished."); return; }
      if (s.state === "done") {
        const stem = file.name.replace(/\.[^.]*$/, "");
        const links = el("p", { class: "downloads" }, downloadLink(s.files.video, stem, "annotated.mp4", "Annotated video (MP4)"), downloadLink(s.files.csv, stem, "frames.csv", "Per-frame log (CSV)"));
        const parts = [el("video", { src: s.files.video, controls: "", playsinline: "", id: "video-annotated", "aria-label": "Annotated video of " + file.name }), links];
        if (s.files.timeline) {
          links.append(downloadLink(s.files.timeline, stem, "timeline.png", "Timeline (PNG)"));
          parts.push(fullSize(s.files.timeline, "Expression of each tracked face over time"));
        }
        // each track's span, expression and gender shares and median age, as `live --summary` writes it
        if (s.files.summary) links.append(downloadLink(s.files.summary, stem, "summary.json", "Summary (JSON)"));
        result.replaceChildren(...parts);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } catch (err) {
    if (err.name === "AbortError") return; // dropped while being sent: the server made no job
    // the server stopped or the network went, and asking again did not help: say so instead of
    // freezing, and cancel the job in case the server is still running it
    if (current()) dropVideo();
    fail("Failed", err instanceof TypeError || err.name === "TimeoutError" ? UNREACHABLE : "Unexpected answer from the server: " + err.message);
  }
}

// a reload or a closed tab leaves nobody to follow the job (keepalive: the request outlives the
// page); a page kept in the back/forward cache comes back still following it
window.addEventListener("pagehide", (event) => { if (!event.persisted) dropVideo(true); });

$("video-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (file) uploadVideo(file);
});
