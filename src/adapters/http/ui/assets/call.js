// @ts-check
/**
 * One call at `/calls/:id`: metadata, the recording (two lanes and a player), the transcript
 * that follows playback, analytics charts. While the call is live, turns and analytics arrive
 * through its SSE feed, and the recording appears when it ends.
 */
import { barChart, lineChart } from "./charts.js";
import {
  $,
  ApiError,
  api,
  formatBytes,
  formatDateTime,
  formatDuration,
  formatMs,
  formatOffset,
  h,
  isFresh,
  openFeed,
  ready,
  showError,
  signedUrl,
  speakerLabel,
  statusBadge,
} from "./common.js";
import { drawWaveform } from "./waveform.js";

/**
 * @typedef {{ id: string, callId: string, track: string, channels: number, sampleRate: number,
 *   sizeBytes: number, durationSeconds: number }} Recording
 * @typedef {{ language: string | null, region: string | null, deviceType: string | null,
 *   networkQuality: string | null, customData: Record<string, unknown> | null }} Metadata
 * @typedef {{ id: string, streamSid: string, callSid: string | null, caller: string | null,
 *   status: string, startedAt: string, endedAt: string | null, durationSeconds: number | null,
 *   metadata?: Metadata | null, recordings?: Recording[],
 *   usage?: { estimatedCostUsd: number | null } | null }} CallDetail
 * @typedef {{ id: string, callId: string, speaker: string, text: string, offsetMs: number | null,
 *   interrupted: boolean, heardText?: string | null, heardMs?: number | null,
 *   generatedMs?: number | null, createdAt: string }} Turn
 * @typedef {{ id: string, sentiment: string | null, sentimentScore: number | null,
 *   callerTalkMs: number, assistantTalkMs: number, silenceMs: number, interruptions: number,
 *   avgResponseLatencyMs: number | null, p95ResponseLatencyMs: number | null,
 *   customMetrics: Record<string, unknown> | null, createdAt: string }} Snapshot
 */

const root = $("#call");
const callId = root.dataset.callId ?? "";
const callPath = `/api/calls/${encodeURIComponent(callId)}`;
const params = new URLSearchParams(location.search);
const startAtMs = params.has("t") ? Number(params.get("t")) : null;
const foundTurnId = params.get("turn");
const player = /** @type {HTMLAudioElement} */ ($("#player"));
const turnList = $("#turns");

const state = {
  /** @type {CallDetail | null} */
  call: null,
  /** @type {Map<string, Turn>} */
  turns: new Map(),
  /** @type {Snapshot[]} */
  analytics: [],
  /** @type {import("./waveform.js").Waveform | null} */
  waveform: null,
  /** @type {import("./common.js").Feed | null} */
  feed: null,
  /** @type {string | null} */
  currentTurn: null,
  recordingShown: false,
};

async function main() {
  await ready();
  let detail = await loadDetail();
  if (!detail) return;
  if (detail.status === "active") {
    state.feed = openFeed(
      `${callPath}/events`,
      {
        transcript: onTurn,
        analytics: onSnapshot,
        "call.ended": () => void refresh(),
      },
      { onReconnect: () => void refresh() },
    );
    await state.feed.opened;
    // Whatever happened before the feed was subscribed is in the REST state loaded now.
    detail = (await loadDetail()) ?? detail;
  }
  await refresh(detail);
  setInterval(tickClock, 1000);
}

/** @returns {Promise<CallDetail | null>} */
async function loadDetail() {
  try {
    return await api(callPath);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showError($("#call-error"), "There is no such call. It may have been deleted.");
      for (const section of root.querySelectorAll("section, .columns")) {
        /** @type {HTMLElement} */ (section).hidden = true;
      }
      return null;
    }
    throw error;
  }
}

/** @param {CallDetail} [known] */
async function refresh(known) {
  const detail = known ?? (await loadDetail());
  if (!detail) return;
  const [turns, analytics] = await Promise.all([
    api(`${callPath}/transcripts`),
    api(`${callPath}/analytics`),
  ]);
  state.call = detail;
  for (const turn of /** @type {Turn[]} */ (turns.data)) state.turns.set(turn.id, turn);
  const known_ids = new Set(state.analytics.map((a) => a.id));
  for (const a of /** @type {Snapshot[]} */ (analytics.data)) {
    if (!known_ids.has(a.id)) state.analytics.push(a);
  }
  if (detail.status !== "active") {
    state.feed?.close();
    state.feed = null;
  }
  renderHeader();
  renderMeta();
  renderTurns(null);
  renderAnalytics();
  await renderRecording();
}

/** @param {Turn} turn */
function onTurn(turn) {
  state.turns.set(turn.id, turn);
  renderTurns(turn.id);
}

/** @param {Snapshot} snapshot */
function onSnapshot(snapshot) {
  if (state.analytics.some((a) => a.id === snapshot.id)) return;
  state.analytics.push(snapshot);
  renderAnalytics();
}

// ---- header and metadata ------------------------------------------------------------------

function renderHeader() {
  const call = state.call;
  if (!call) return;
  const who = call.caller ?? "an unknown caller";
  $("#call-title").textContent = `Call from ${who}`;
  document.title = `Call from ${who} · callbridge`;
  $("#call-status").replaceWith(Object.assign(statusBadge(call.status), { id: "call-status" }));
  tickClock();
}

function tickClock() {
  const call = state.call;
  const clock = $("#clock");
  if (call?.status === "active") {
    clock.textContent = `Live for ${formatDuration((Date.now() - Date.parse(call.startedAt)) / 1000)}`;
  } else {
    clock.textContent = "";
  }
}

function renderMeta() {
  const call = state.call;
  if (!call) return;
  const m = call.metadata;
  /** @type {[string, string | null | undefined, string?][]} */
  const rows = [
    ["Started", formatDateTime(call.startedAt)],
    ["Ended", call.endedAt ? formatDateTime(call.endedAt) : null],
    ["Duration", call.durationSeconds === null ? null : formatDuration(call.durationSeconds)],
    ["Caller", call.caller],
    ["Language", m?.language],
    ["Region", m?.region],
    ["Device", m?.deviceType],
    ["Network", m?.networkQuality],
    ["Estimated cost", formatUsd(call.usage?.estimatedCostUsd)],
    ["Call SID", call.callSid, "mono"],
    ["Stream SID", call.streamSid, "mono"],
  ];
  // The stream's custom parameters repeat the caller and call SID shown above.
  const shown = new Set(["caller", "callsid", "streamsid", "estimatedcostusd"]);
  const custom = m?.customData ?? {};
  for (const [key, value] of Object.entries(custom)) {
    if (shown.has(key.toLowerCase())) continue;
    if (value === null || typeof value !== "object") rows.push([key, String(value)]);
  }
  $("#call-meta").replaceChildren(
    ...rows
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([label, value, cls]) =>
        h("div", {}, [h("dt", {}, [label]), h("dd", { class: cls }, [value ?? ""])]),
      ),
  );
}

// ---- recording ------------------------------------------------------------------------------

async function renderRecording() {
  const call = state.call;
  if (!call) return;
  const note = $("#recording-note");
  if (call.status === "active") {
    note.textContent =
      "This call is live: its turns appear below as they are said. The recording can be played once the call ends.";
    return;
  }
  if (state.recordingShown) return;
  const recordings = call.recordings ?? [];
  const recording =
    recordings.find((r) => r.track === "conversation") ??
    recordings.find((r) => r.track === "caller");
  const del = /** @type {HTMLButtonElement} */ ($("#delete"));
  del.hidden = false;
  del.onclick = confirmDelete;
  if (!recording) {
    note.textContent = "No recording was stored for this call.";
    return;
  }
  state.recordingShown = true;
  const stereo = recording.channels >= 2;
  note.textContent = stereo
    ? "Caller and assistant, as the caller heard them. Click the lanes or a turn to jump there."
    : "Only the caller's side was recorded. Click the lane or a turn to jump there.";
  const audioPath = `/api/recordings/${encodeURIComponent(recording.id)}/audio`;
  // A signed URL, not the key: the player and the download link are in plain sight.
  let audioUrl = await signedUrl(audioPath);
  player.src = audioUrl.url;
  player.hidden = false;
  const download = /** @type {HTMLAnchorElement} */ (
    h(
      "a",
      {
        id: "download",
        class: "button",
        href: audioUrl.url,
        download: `call-${callId}-${recording.track}.wav`,
      },
      [`Download WAV (${stereo ? "stereo" : "mono"}, ${formatBytes(recording.sizeBytes)})`],
    )
  );
  del.before(download);
  const renewAudioUrl = async () => {
    audioUrl = await signedUrl(audioPath);
    download.href = audioUrl.url;
  };
  // The player asks for each Range with the same URL; once it has expired the server refuses
  // it, so the source is replaced where playback was.
  player.addEventListener("error", async () => {
    if (isFresh(audioUrl)) return;
    const at = player.currentTime;
    await renewAudioUrl();
    player.src = audioUrl.url;
    player.currentTime = at;
  });
  download.addEventListener("click", (event) => {
    if (isFresh(audioUrl)) return;
    event.preventDefault();
    void renewAudioUrl().then(() => download.click());
  });

  player.addEventListener("timeupdate", () => onTime(player.currentTime));
  player.addEventListener("seeked", () => onTime(player.currentTime));
  player.addEventListener("play", followPlayback);
  if (startAtMs !== null && Number.isFinite(startAtMs)) {
    const seekOnce = () => {
      player.currentTime = startAtMs / 1000;
      onTime(startAtMs / 1000);
    };
    if (player.readyState >= HTMLMediaElement.HAVE_METADATA) seekOnce();
    else player.addEventListener("loadedmetadata", seekOnce, { once: true });
  }

  const container = $("#waveform");
  const buckets = Math.round(
    Math.min(2000, Math.max(200, container.parentElement?.clientWidth ?? 800)),
  );
  try {
    const peaks = await api(
      `/ui/recordings/${encodeURIComponent(recording.id)}/peaks?buckets=${buckets}`,
    );
    state.waveform = drawWaveform(container, {
      peaks,
      markers: [...state.turns.values()],
      onSeek: (seconds) => seekTo(seconds, false),
    });
    state.waveform.update(player.currentTime);
  } catch (error) {
    container.hidden = false;
    showError(
      container,
      `The waveform could not be drawn: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * @param {number} seconds
 * @param {boolean} play
 */
function seekTo(seconds, play) {
  if (!state.recordingShown) return;
  player.currentTime = seconds;
  onTime(seconds);
  if (play) player.play().catch(() => undefined);
}

/** Smooth playhead while playing; timeupdate alone moves it only about 4 times a second. */
function followPlayback() {
  const step = () => {
    onTime(player.currentTime);
    if (!player.paused && !player.ended) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

/** @param {number} seconds */
function onTime(seconds) {
  state.waveform?.update(seconds);
  highlightTurnAt(seconds * 1000);
}

// ---- transcript -----------------------------------------------------------------------------

function orderedTurns() {
  return [...state.turns.values()].sort(
    (a, b) =>
      (a.offsetMs ?? Number.POSITIVE_INFINITY) - (b.offsetMs ?? Number.POSITIVE_INFINITY) ||
      a.createdAt.localeCompare(b.createdAt),
  );
}

/** @param {string | null} arrivedId a turn that just arrived live */
function renderTurns(arrivedId) {
  const turns = orderedTurns();
  const note = $("#transcript-note");
  const live = state.call?.status === "active";
  note.textContent =
    turns.length > 0
      ? live
        ? "New turns appear as they are said."
        : "Click a turn to play it. The turn being heard is highlighted."
      : live
        ? "Waiting for the first words…"
        : "No turns were transcribed for this call.";
  const nearBottom = turnList.scrollHeight - turnList.scrollTop - turnList.clientHeight < 40;
  turnList.replaceChildren(...turns.map((turn) => turnItem(turn, turn.id === arrivedId)));
  state.waveform?.setMarkers(turns);
  const current = state.currentTurn;
  state.currentTurn = null;
  if (current) markCurrent(current);
  if (arrivedId && nearBottom) turnList.scrollTop = turnList.scrollHeight;
  if (foundTurnId && !arrivedId) {
    const found = turnList.querySelector(`[data-id="${CSS.escape(foundTurnId)}"]`);
    if (found) scrollIntoList(/** @type {HTMLElement} */ (found));
  }
}

/**
 * @param {Turn} turn
 * @param {boolean} arrived
 */
function turnItem(turn, arrived) {
  const at = turn.offsetMs;
  const classes = ["turn", `turn-${turn.speaker}`];
  if (arrived) classes.push("arrived");
  if (turn.id === foundTurnId) classes.push("found");
  if (turn.interrupted) classes.push("interrupted");
  const item = h("li", { class: classes.join(" "), "data-id": turn.id }, [
    h("div", { class: "turn-head" }, [
      h("span", { class: `speaker speaker-${turn.speaker}` }, [speakerLabel(turn.speaker)]),
      at === null
        ? h("span", { class: "turn-time" }, ["—"])
        : h(
            "button",
            {
              type: "button",
              class: "turn-time",
              "aria-label": `Play from ${formatOffset(at)}`,
            },
            [formatOffset(at)],
          ),
      turn.interrupted
        ? h(
            "span",
            { class: "badge badge-interrupted", title: "The caller talked over this turn" },
            ["Interrupted"],
          )
        : null,
    ]),
    h("p", { class: "turn-text" }, [turn.text]),
    heardLine(turn),
  ]);
  if (at !== null) {
    item.addEventListener("click", () => seekTo(at / 1000, true));
  }
  return item;
}

/**
 * What the caller heard of an answer they cut off, when it differs from what was generated.
 * @param {Turn} turn
 */
function heardLine(turn) {
  const heard = turn.heardText;
  if (heard === null || heard === undefined || heard === turn.text) return null;
  const of =
    turn.heardMs != null && turn.generatedMs != null
      ? ` (${formatMs(turn.heardMs)} of ${formatMs(turn.generatedMs)})`
      : "";
  return h(
    "p",
    { class: "turn-heard", title: "An estimate: the text cut in proportion to the audio played" },
    [`Heard${of}: ${heard === "" ? "nothing" : `${heard} …`}`],
  );
}

/** @param {number | null | undefined} usd */
function formatUsd(usd) {
  if (usd === null || usd === undefined) return null;
  return `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

/** @param {number} ms */
function highlightTurnAt(ms) {
  let current = null;
  for (const turn of orderedTurns()) {
    if (turn.offsetMs === null || turn.offsetMs > ms + 50) continue;
    current = turn.id;
  }
  if (current !== state.currentTurn) markCurrent(current);
}

/** @param {string | null} id */
function markCurrent(id) {
  for (const el of turnList.querySelectorAll(".turn.current")) {
    el.classList.remove("current");
    el.removeAttribute("aria-current");
  }
  state.currentTurn = id;
  if (!id) return;
  const el = /** @type {HTMLElement | null} */ (
    turnList.querySelector(`[data-id="${CSS.escape(id)}"]`)
  );
  if (!el) return;
  el.classList.add("current");
  el.setAttribute("aria-current", "true");
  scrollIntoList(el);
}

/**
 * Scrolls the transcript box, never the page, to show `el`.
 * @param {HTMLElement} el
 */
function scrollIntoList(el) {
  const top = el.offsetTop - turnList.offsetTop;
  const bottom = top + el.offsetHeight;
  if (top < turnList.scrollTop || bottom > turnList.scrollTop + turnList.clientHeight) {
    turnList.scrollTop = Math.max(0, top - turnList.clientHeight / 3);
  }
}

// ---- analytics ------------------------------------------------------------------------------

/** @param {Snapshot} a */
function timelineMs(a) {
  const t = a.customMetrics?.timelineMs;
  if (typeof t === "number") return t;
  return Date.parse(a.createdAt) - Date.parse(state.call?.startedAt ?? a.createdAt);
}

function renderAnalytics() {
  const snapshots = [...state.analytics].sort((a, b) => timelineMs(a) - timelineMs(b));
  const note = $("#analytics-note");
  const summary = $("#analytics-summary");
  const charts = $("#charts");
  const last = snapshots.at(-1);
  if (!last) {
    note.textContent =
      state.call?.status === "active"
        ? "The first snapshot arrives a few seconds into the call."
        : "No analytics were stored for this call.";
    summary.replaceChildren();
    charts.replaceChildren();
    return;
  }
  note.textContent = `${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"}; the last one is summarized.`;
  /** @type {[string, string][]} */
  const stats = [
    ["Caller talk", formatMs(last.callerTalkMs)],
    ["Assistant talk", formatMs(last.assistantTalkMs)],
    ["Silence", formatMs(last.silenceMs)],
    ["Interruptions", String(last.interruptions)],
    ["Avg latency", last.avgResponseLatencyMs === null ? "—" : formatMs(last.avgResponseLatencyMs)],
    ["p95 latency", last.p95ResponseLatencyMs === null ? "—" : formatMs(last.p95ResponseLatencyMs)],
    [
      "Sentiment",
      last.sentiment === null
        ? "—"
        : `${last.sentiment}${last.sentimentScore === null ? "" : ` (${last.sentimentScore})`}`,
    ],
  ];
  summary.replaceChildren(
    ...stats.map(([label, value]) => h("div", {}, [h("dt", {}, [label]), h("dd", {}, [value])])),
  );

  const xMax = Math.max(1, ...snapshots.map((a) => timelineMs(a) / 1000));
  /** @param {(a: Snapshot) => number} pick */
  const points = (pick) =>
    snapshots.map((a) => /** @type {[number, number]} */ ([timelineMs(a) / 1000, pick(a)]));
  const seconds = (/** @type {number} */ v) => `${v} s`;
  const figures = [
    lineChart({
      title: "Talk and silence over the call",
      description: `By the end: caller ${formatMs(last.callerTalkMs)}, assistant ${formatMs(last.assistantTalkMs)}, silence ${formatMs(last.silenceMs)}.`,
      series: [
        { name: "Caller", cls: "s-caller", points: points((a) => a.callerTalkMs / 1000) },
        { name: "Assistant", cls: "s-assistant", points: points((a) => a.assistantTalkMs / 1000) },
        { name: "Silence", cls: "s-silence", points: points((a) => a.silenceMs / 1000) },
      ],
      xMax,
      xFormat: formatDuration,
      yFormat: seconds,
    }),
  ];
  const latencies = last.customMetrics?.responseLatenciesMs;
  if (Array.isArray(latencies) && latencies.length > 0) {
    const references = [];
    if (last.avgResponseLatencyMs !== null) {
      references.push({ value: last.avgResponseLatencyMs, label: "avg", cls: "r-avg" });
    }
    if (last.p95ResponseLatencyMs !== null && latencies.length > 1) {
      references.push({ value: last.p95ResponseLatencyMs, label: "p95", cls: "r-p95" });
    }
    figures.push(
      barChart({
        title: "Response latency per turn",
        description: `${latencies.length} answers; from the end of caller speech to the first assistant audio.`,
        name: "Latency (ms)",
        cls: "s-latency",
        values: latencies.map(Number),
        references,
        yFormat: (v) => `${Math.round(v)} ms`,
      }),
    );
  }
  figures.push(
    lineChart({
      title: "Interruptions",
      description: `${last.interruptions} time${last.interruptions === 1 ? "" : "s"} the caller talked over the assistant.`,
      series: [
        {
          name: "Interruptions so far",
          cls: "s-interruptions",
          points: points((a) => a.interruptions),
        },
      ],
      step: true,
      integer: true,
      height: 120,
      xMax,
      xFormat: formatDuration,
      yFormat: (v) => String(v),
    }),
  );
  charts.replaceChildren(...figures);
}

// ---- delete ---------------------------------------------------------------------------------

function confirmDelete() {
  const dialog = /** @type {HTMLDialogElement} */ ($("#delete-dialog"));
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "delete") return;
      try {
        await api(callPath, { method: "DELETE" });
        location.assign("/?deleted=1");
      } catch (error) {
        showError($("#call-error"), error);
      }
    },
    { once: true },
  );
  dialog.showModal();
}

main().catch((error) => showError($("#call-error"), error));
