// @ts-check
/**
 * One call at `/calls/:id`: the model's summary, the call's facts (how it ended, quality, cost),
 * the recording (two lanes and a player) with its downloads, the transcript that follows
 * playback, analytics charts. While the call is live, turns and analytics arrive through its SSE
 * feed, and the recording appears when it ends; a pending summary is fetched again until it is
 * written.
 *
 * Opened from a search hit (`?turn=<id>&t=<ms>`), it plays from that moment and scrolls the
 * matched turn into view.
 */
import { barChart, lineChart } from "./charts.js";
import {
  $,
  ApiError,
  api,
  download,
  formatBytes,
  formatDateTime,
  formatDuration,
  formatMs,
  formatOffset,
  h,
  isFresh,
  keyRequired,
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
 * @typedef {{ tokenUsage: Record<string, unknown> | null,
 *   transcriptionUsage: Record<string, unknown> | null,
 *   estimatedCostUsd: number | null }} Usage
 * @typedef {{ id: string, streamSid: string, callSid: string | null, caller: string | null,
 *   called?: string | null, status: string, startedAt: string, endedAt: string | null,
 *   durationSeconds: number | null, endReason?: string | null, turns?: number | null,
 *   costUsd?: number | null, sentiment?: string | null, networkQuality?: string | null,
 *   avgResponseLatencyMs?: number | null, p95ResponseLatencyMs?: number | null,
 *   topic?: string | null, analysisStatus?: string | null, summary?: string | null,
 *   outcome?: string | null, analysisFields?: Record<string, unknown> | null,
 *   metadata?: Metadata | null, recordings?: Recording[], usage?: Usage | null }} CallDetail
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
const chartBox = $("#charts");

/** How often a pending summary is asked for again, and for how long at most. */
const ANALYSIS_POLL_MS = 4000;
const ANALYSIS_POLL_LIMIT = 75;
/** A pointer that moved further than this between press and release was dragging, not clicking. */
const CLICK_SLOP_PX = 5;
/** A second click this soon after a seek is a double-click (selecting a word): undo the seek. */
const DOUBLE_CLICK_MS = 700;

const END_REASONS = /** @type {Record<string, string>} */ ({
  caller_hung_up: "The caller hung up",
  assistant_ended: "The assistant ended the call",
  stream_closed: "The audio stream closed without a hang-up",
  network_drop: "The connection dropped",
  max_duration: "It reached the longest call allowed",
  model_failure: "The AI model failed; the rest was only recorded",
  server_shutdown: "The server was shut down during the call",
  server_crash: "The server stopped unexpectedly",
});

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
  /** @type {ReturnType<typeof setTimeout> | null} */
  analysisTimer: null,
  analysisPolls: 0,
  chartWidth: 0,
  /** Where the pointer went down on the transcript, to tell a click from a drag. */
  /** @type {{ x: number, y: number } | null} */
  press: null,
  /** What a click on a turn changed, undone if it turns out to be a double-click. */
  /** @type {{ time: number, paused: boolean, at: number } | null} */
  undo: null,
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
  turnList.addEventListener("pointerdown", (event) => {
    state.press = { x: event.clientX, y: event.clientY };
  });
  turnList.addEventListener("click", onTurnClick);
  new ResizeObserver(() => {
    if (state.call && Math.round(chartBox.clientWidth) !== state.chartWidth) renderAnalytics();
  }).observe(chartBox);
  await refresh(detail);
  // Last, once everything above the transcript has its height: the turn a search found.
  revealFoundTurn();
  setInterval(tickClock, 1000);
}

/** @returns {Promise<CallDetail | null>} */
async function loadDetail() {
  try {
    return await api(callPath);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showMissing();
      return null;
    }
    throw error;
  }
}

/** The page of an unknown (or just deleted) call: says so, and nothing else. */
function showMissing() {
  state.feed?.close();
  state.feed = null;
  $("#call-title").textContent = "No such call";
  document.title = "No such call · callbridge";
  $("#call-status").hidden = true;
  $("#call-missing").hidden = false;
  for (const section of root.querySelectorAll("section, .columns")) {
    /** @type {HTMLElement} */ (section).hidden = true;
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
  const knownIds = new Set(state.analytics.map((a) => a.id));
  for (const a of /** @type {Snapshot[]} */ (analytics.data)) {
    if (!knownIds.has(a.id)) state.analytics.push(a);
  }
  if (detail.status !== "active") {
    state.feed?.close();
    state.feed = null;
  }
  renderCall();
  renderTurns(null);
  renderAnalytics();
  await renderRecording();
}

/** Everything drawn from the call's own row: header, summary, facts. */
function renderCall() {
  renderHeader();
  renderAnalysis();
  renderFacts();
  watchAnalysis();
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

// ---- header, summary and facts ------------------------------------------------------------

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

/** The post-call analysis, or why there is none (yet). */
function renderAnalysis() {
  const call = state.call;
  if (!call) return;
  const note = $("#analysis-note");
  const summary = $("#summary");
  const outcome = $("#outcome");
  const fields = $("#analysis-fields");
  const status = call.analysisStatus ?? null;
  const done = status === "done";
  note.textContent = done
    ? ""
    : call.status === "active"
      ? "The model writes a summary once the call ends."
      : status === "pending"
        ? "The model is writing the summary. It appears here when it is ready."
        : status === "failed"
          ? "No summary: the model could not analyse this call, even after retrying."
          : status === "off"
            ? "No summary: post-call analysis is turned off on this server."
            : "No summary was made for this call.";
  note.hidden = done;

  if (done && call.summary) {
    summary.textContent = call.summary;
    summary.classList.remove("topic");
  } else if (call.topic) {
    // Without the model's line, the caller's first words say what the call was about.
    summary.replaceChildren(h("span", { class: "topic-label" }, ["First words: "]), call.topic);
    summary.classList.add("topic");
  } else {
    summary.replaceChildren();
  }
  summary.hidden = summary.textContent === "";

  outcome.hidden = !(done && call.outcome);
  outcome.replaceChildren(
    h("span", { class: "outcome-label" }, ["Outcome"]),
    h("span", { class: "badge badge-outcome" }, [humanize(call.outcome ?? "")]),
  );

  const entries = done ? Object.entries(call.analysisFields ?? {}) : [];
  fields.hidden = entries.length === 0;
  fields.replaceChildren(
    ...entries.map(([key, value]) =>
      h("div", {}, [h("dt", {}, [humanize(key)]), h("dd", {}, [fieldValue(value)])]),
    ),
  );
}

/** While the summary is pending, asks for the call again now and then. */
function watchAnalysis() {
  const call = state.call;
  const waiting = call?.status !== "active" && call?.analysisStatus === "pending";
  if (!waiting || state.analysisTimer || state.analysisPolls >= ANALYSIS_POLL_LIMIT) return;
  state.analysisTimer = setTimeout(async () => {
    state.analysisPolls++;
    try {
      const detail = await loadDetail();
      state.analysisTimer = null;
      if (!detail) return;
      state.call = detail;
      renderCall();
    } catch {
      state.analysisTimer = null;
      watchAnalysis();
    }
  }, ANALYSIS_POLL_MS);
}

/**
 * `needs_follow_up` → "Needs follow up", `orderNumber` → "Order number".
 * @param {string} name
 */
function humanize(name) {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function fieldValue(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "number") return value.toLocaleString();
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return value.length === 0 ? "—" : value.map((v) => fieldValue(v)).join(", ");
  }
  return JSON.stringify(value);
}

/**
 * @typedef {[label: string, value: string | null | undefined, cls?: string]} Fact
 */

function renderFacts() {
  const call = state.call;
  if (!call) return;
  const live = call.status === "active";
  const m = call.metadata;
  /** @type {Fact[]} */
  const facts = [
    ["Started", formatDateTime(call.startedAt)],
    ["Ended", call.endedAt ? formatDateTime(call.endedAt) : null],
    ["Duration", call.durationSeconds == null ? null : formatDuration(call.durationSeconds)],
    ["From", call.caller],
    ["To", call.called],
    ["How it ended", call.endReason ? (END_REASONS[call.endReason] ?? call.endReason) : null],
    ["Turns", call.turns == null ? null : String(call.turns)],
    ["Language", m?.language],
    ["Region", m?.region],
    ["Device", m?.deviceType],
    ["Call SID", call.callSid, "mono"],
    ["Stream SID", call.streamSid, "mono"],
  ];
  // The stream's custom parameters, less what is shown above or below in its own words.
  const shown = new Set(["caller", "callsid", "streamsid", "to", "endreason", "estimatedcostusd"]);
  for (const [key, value] of Object.entries(m?.customData ?? {})) {
    if (shown.has(key.toLowerCase())) continue;
    if (value === null || typeof value !== "object") facts.push([key, String(value)]);
  }
  fillFacts($("#call-meta"), facts);

  const network = objectOf(m?.customData?.network);
  const quality = call.networkQuality ?? m?.networkQuality ?? null;
  const avg = call.avgResponseLatencyMs;
  const p95 = call.p95ResponseLatencyMs;
  fillFacts(
    $("#call-quality"),
    [
      ["Line quality", quality ? humanize(quality) : null],
      ["Jitter", network && num(network.jitterMs) !== null ? `${num(network.jitterMs)} ms` : null],
      ["Gaps in the audio", network ? gapText(network) : null],
      ["Silence filled in", network ? filledText(network) : null],
      ["Response time (avg)", avg == null ? null : formatMs(avg)],
      ["Response time (p95)", p95 == null ? null : formatMs(p95)],
      ["Caller sentiment", call.sentiment ? humanize(call.sentiment) : null],
    ],
    /** @type {HTMLElement} */ ($("#quality-note")),
    live ? "Measured through the call; shown once it ends." : "Nothing was measured for this call.",
  );

  const usage = call.usage ?? null;
  fillFacts(
    $("#call-cost"),
    usage ? costFacts(usage, call.costUsd ?? null) : [],
    /** @type {HTMLElement} */ ($("#cost-note")),
    live ? "Known once the call ends." : "The AI model reported no usage for this call.",
  );
}

/**
 * @param {Record<string, unknown>} network
 */
function gapText(network) {
  const gaps = num(network.gaps);
  if (gaps === null) return null;
  if (gaps === 0) return "None";
  const missing = num(network.missingMs);
  return `${gaps} (${missing === null ? "?" : formatMs(missing)} missing)`;
}

/**
 * @param {Record<string, unknown>} network
 */
function filledText(network) {
  const gaps = num(network.filledGaps);
  if (gaps === null) return null;
  if (gaps === 0) return "None";
  const ms = num(network.filledMs);
  return `${gaps} gap${gaps === 1 ? "" : "s"}, ${ms === null ? "?" : formatMs(ms)}`;
}

/**
 * The estimate and what it is made of: the Realtime model's tokens by kind, and the caller's
 * transcription.
 * @param {Usage} usage
 * @param {number | null} costUsd
 * @returns {Fact[]}
 */
function costFacts(usage, costUsd) {
  const cost = usage.estimatedCostUsd ?? costUsd;
  const tokens = usage.tokenUsage ?? {};
  const input = objectOf(tokens.input_token_details);
  const output = objectOf(tokens.output_token_details);
  /** @type {Fact[]} */
  const facts = [
    [
      "Estimated cost",
      cost === null
        ? usage.tokenUsage || usage.transcriptionUsage
          ? "Not priced (a model without a price)"
          : null
        : formatUsd(cost),
    ],
  ];
  if (input || output) {
    facts.push(
      ["Audio tokens", inOut(num(input?.audio_tokens), num(output?.audio_tokens))],
      ["Text tokens", inOut(num(input?.text_tokens), num(output?.text_tokens))],
      ["Cached tokens", count(num(input?.cached_tokens))],
    );
  } else if (usage.tokenUsage) {
    facts.push(["Tokens", inOut(num(tokens.input_tokens), num(tokens.output_tokens))]);
  }
  facts.push(["Transcription", transcriptionText(usage.transcriptionUsage)]);
  return facts;
}

/** @param {Record<string, unknown> | null} usage */
function transcriptionText(usage) {
  if (!usage) return null;
  const seconds = num(usage.seconds);
  if (seconds !== null) {
    return `${seconds < 60 ? `${Math.round(seconds)} s` : `${formatDuration(seconds)} min`} of audio`;
  }
  const details = objectOf(usage.input_token_details);
  const audio = num(details?.audio_tokens);
  const input = num(usage.input_tokens);
  const output = num(usage.output_tokens);
  if (input === null && output === null) {
    const total = num(usage.total_tokens);
    return total === null ? null : `${count(total)} tokens`;
  }
  const audioNote = audio !== null && audio !== input ? ` (${count(audio)} of audio)` : "";
  return `${inOut(input, output)} tokens${audioNote}`;
}

/**
 * @param {number | null} input
 * @param {number | null} output
 */
function inOut(input, output) {
  if (input === null && output === null) return null;
  return `${count(input ?? 0)} in · ${count(output ?? 0)} out`;
}

/** @param {number | null} n */
const count = (n) => (n === null ? null : n.toLocaleString());

/** @param {unknown} value */
const num = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

/**
 * @param {unknown} value
 * @returns {Record<string, unknown> | null}
 */
function objectOf(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? /** @type {Record<string, unknown>} */ (value)
    : null;
}

/**
 * @param {HTMLElement} list a <dl>
 * @param {Fact[]} facts
 * @param {HTMLElement} [note] shown with `empty` when no fact has a value
 * @param {string} [empty]
 */
function fillFacts(list, facts, note, empty) {
  const known = facts.filter(([, value]) => value !== null && value !== undefined && value !== "");
  list.replaceChildren(
    ...known.map(([label, value, cls]) =>
      h("div", {}, [h("dt", {}, [label]), h("dd", { class: cls }, [value ?? ""])]),
    ),
  );
  list.hidden = known.length === 0;
  if (note) {
    note.textContent = known.length === 0 ? (empty ?? "") : "";
    note.hidden = known.length > 0;
  }
}

/** @param {number | null | undefined} usd */
function formatUsd(usd) {
  if (usd === null || usd === undefined) return null;
  return `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

// ---- recording and downloads --------------------------------------------------------------

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
  const conversation = recordings.find((r) => r.track === "conversation");
  const callerOnly = recordings.find((r) => r.track === "caller");
  const recording = conversation ?? callerOnly;
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
    ? "Caller and assistant, as the caller heard them. Click the lanes or a turn's time to jump there."
    : "Only the caller's side was recorded. Click the lane or a turn's time to jump there.";

  // Signed URLs, not the key: the player and the download links are in plain sight.
  const [audio, ...links] = await Promise.all([
    signedAudio(recording),
    ...[conversation, callerOnly].filter((r) => r !== undefined).map(downloadLink),
  ]);
  $("#audio-downloads").append(...links);
  $("#audio-downloads").hidden = false;

  player.src = audio.url();
  player.hidden = false;
  dockPlayer();
  // The player asks for each Range with the same URL; once it has expired the server refuses
  // it, so the source is replaced where playback was.
  player.addEventListener("error", async () => {
    if (audio.fresh()) return;
    const at = player.currentTime;
    await audio.renew();
    player.src = audio.url();
    player.currentTime = at;
  });
  player.addEventListener("timeupdate", () => onTime(player.currentTime));
  player.addEventListener("seeked", () => onTime(player.currentTime));
  player.addEventListener("play", () => {
    $("#player-status").textContent = "";
    followPlayback();
  });
  if (startAtMs !== null && Number.isFinite(startAtMs) && startAtMs >= 0) playFromStart(startAtMs);

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
 * Once the page is scrolled past it, the player stays at the foot of the screen, so that it can
 * be paused or played while reading the transcript further down (on a phone, far down).
 */
function dockPlayer() {
  const slot = $("#player-slot");
  const row = /** @type {HTMLElement} */ (slot.firstElementChild);
  let queued = false;
  const check = () => {
    queued = false;
    const dock = slot.getBoundingClientRect().bottom <= 0;
    if (dock === row.classList.contains("docked")) return;
    // The slot keeps the row's height, so that the page does not jump when it docks.
    slot.style.minHeight = dock ? `${slot.offsetHeight}px` : "";
    row.classList.toggle("docked", dock);
    document.body.classList.toggle("player-docked", dock);
  };
  // Not an IntersectionObserver: a jump from above the player to far below it (a search hit
  // scrolled into view) crosses no threshold it would report.
  const queue = () => {
    if (!queued) requestAnimationFrame(check);
    queued = true;
  };
  window.addEventListener("scroll", queue, { passive: true });
  window.addEventListener("resize", queue);
  queue();
}

/** The bottom of what can be seen of the page: above the docked player. */
function viewBottom() {
  const row = document.querySelector(".player-row.docked");
  return window.innerHeight - (row ? row.getBoundingClientRect().height : 0);
}

/**
 * A recording's audio behind a signed URL that is renewed when it gets old.
 * @param {Recording} recording
 */
async function signedAudio(recording) {
  const path = `/api/recordings/${encodeURIComponent(recording.id)}/audio`;
  let signed = await signedUrl(path);
  return {
    url: () => signed.url,
    fresh: () => isFresh(signed),
    async renew() {
      signed = await signedUrl(path);
    },
  };
}

/**
 * A download link for one track, on its own signed URL, renewed before a click if it is old.
 * @param {Recording} recording
 */
async function downloadLink(recording) {
  const audio = await signedAudio(recording);
  const stereo = recording.channels >= 2;
  const what =
    recording.track === "conversation"
      ? `Conversation (${stereo ? "stereo" : "mono"} WAV, ${formatBytes(recording.sizeBytes)})`
      : `Caller only (mono WAV, ${formatBytes(recording.sizeBytes)})`;
  const link = /** @type {HTMLAnchorElement} */ (
    h(
      "a",
      {
        id: recording.track === "conversation" ? "download" : `download-${recording.track}`,
        class: "button",
        href: audio.url(),
        download: `call-${callId}-${recording.track}.wav`,
      },
      [h("span", { class: "visually-hidden" }, ["Download "]), what],
    )
  );
  link.addEventListener("click", (event) => {
    if (audio.fresh()) return;
    event.preventDefault();
    void audio.renew().then(() => {
      link.href = audio.url();
      link.click();
    });
  });
  return link;
}

/** The transcript as text and as JSON, once there is a turn. */
function renderTranscriptDownloads() {
  const box = $("#transcript-downloads");
  if (!box.querySelector("a") && state.turns.size > 0) {
    const base = `call-${callId}-transcript`;
    box.append(
      apiDownload(
        "download-transcript-text",
        `${callPath}/transcripts?format=text`,
        `${base}.txt`,
        "Text",
      ),
      apiDownload("download-transcript-json", `${callPath}/transcripts`, `${base}.json`, "JSON"),
    );
  }
  box.hidden = box.querySelector("a") === null;
}

/**
 * A link that downloads an API answer. The API needs the key in a header, which a link cannot
 * send: where the server has a key, the answer is fetched with it and saved from memory.
 * @param {string} id
 * @param {string} path
 * @param {string} filename
 * @param {string} label what it is saved as: Text, JSON
 */
function apiDownload(id, path, filename, label) {
  const link = /** @type {HTMLAnchorElement} */ (
    h("a", { id, class: "button", href: path, download: filename }, [
      h("span", { class: "visually-hidden" }, ["Download the transcript as "]),
      label,
    ])
  );
  link.addEventListener("click", (event) => {
    if (!keyRequired()) return;
    event.preventDefault();
    download(path, filename).catch((error) => showError($("#call-error"), error));
  });
  return link;
}

/**
 * Opened from a search hit: seek there and play. A browser may refuse to play before the person
 * has done anything on the page; then the player waits at that moment and says so.
 * @param {number} ms
 */
function playFromStart(ms) {
  const start = () => {
    seekTo(ms / 1000, false);
    player.play().catch(() => {
      $("#player-status").textContent = `Press play to listen from ${formatOffset(ms)}.`;
    });
  };
  if (player.readyState >= HTMLMediaElement.HAVE_METADATA) start();
  else player.addEventListener("loadedmetadata", start, { once: true });
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
        : "Click a turn or its time to play it; select text to copy it. The turn being heard is highlighted."
      : live
        ? "Waiting for the first words…"
        : "No turns were transcribed for this call.";
  const following = arrivedId !== null && followingTheEnd();
  turnList.replaceChildren(...turns.map((turn) => turnItem(turn, turn.id === arrivedId)));
  state.waveform?.setMarkers(turns);
  const current = state.currentTurn;
  state.currentTurn = null;
  if (current) markCurrent(current, false);
  if (arrivedId && following) {
    const arrived = turnItemOf(arrivedId);
    if (arrived) reveal(arrived);
  }
  renderTranscriptDownloads();
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
  if (at !== null) classes.push("playable");
  return h("li", { class: classes.join(" "), "data-id": turn.id }, [
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
}

/**
 * A click on a turn plays it; its time button always does. Selecting text to copy it does not:
 * a press that moved (a drag), a click that leaves a selection (shift-click), and the second
 * click of a double-click (which selects a word, and takes back the first click's seek).
 * @param {MouseEvent} event
 */
function onTurnClick(event) {
  const target = /** @type {Element} */ (event.target);
  const item = /** @type {HTMLElement | null} */ (target.closest(".turn"));
  const turn = item ? state.turns.get(item.dataset.id ?? "") : undefined;
  if (!turn || turn.offsetMs === null) return;
  const onButton = target.closest("button") !== null;
  if (!onButton) {
    if (event.detail > 1) {
      undoClickSeek();
      return;
    }
    if (!deliberateClick(event)) return;
  }
  state.undo = { time: player.currentTime, paused: player.paused, at: performance.now() };
  seekTo(turn.offsetMs / 1000, true);
}

/** @param {MouseEvent} event */
function deliberateClick(event) {
  const selection = window.getSelection();
  if (selection && !selection.isCollapsed && selection.toString().trim() !== "") return false;
  const press = state.press;
  if (press && Math.hypot(event.clientX - press.x, event.clientY - press.y) > CLICK_SLOP_PX) {
    return false;
  }
  return true;
}

function undoClickSeek() {
  const undo = state.undo;
  state.undo = null;
  if (!undo || performance.now() - undo.at > DOUBLE_CLICK_MS) return;
  if (undo.paused) player.pause();
  player.currentTime = undo.time;
  onTime(undo.time);
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

/** @param {number} ms */
function highlightTurnAt(ms) {
  let current = null;
  for (const turn of orderedTurns()) {
    if (turn.offsetMs === null || turn.offsetMs > ms + 50) continue;
    current = turn.id;
  }
  if (current !== state.currentTurn) markCurrent(current, true);
}

/** @param {string} id */
function turnItemOf(id) {
  return /** @type {HTMLElement | null} */ (
    turnList.querySelector(`[data-id="${CSS.escape(id)}"]`)
  );
}

/**
 * @param {string | null} id
 * @param {boolean} follow scroll to it if the person is watching the transcript
 */
function markCurrent(id, follow) {
  const before = state.currentTurn ? turnItemOf(state.currentTurn) : null;
  const watching = listScrolls() || (before !== null && onScreen(before));
  for (const el of turnList.querySelectorAll(".turn.current")) {
    el.classList.remove("current");
    el.removeAttribute("aria-current");
  }
  state.currentTurn = id;
  if (!id) return;
  const el = turnItemOf(id);
  if (!el) return;
  el.classList.add("current");
  el.setAttribute("aria-current", "true");
  if (follow && watching) reveal(el);
}

/**
 * Whether the transcript is a box of its own that scrolls (beside the analytics on a wide
 * screen), or part of the page (on a phone: no scroll inside a scroll).
 */
function listScrolls() {
  return (
    getComputedStyle(turnList).overflowY !== "visible" &&
    turnList.scrollHeight > turnList.clientHeight + 1
  );
}

/** @param {Element} el */
function onScreen(el) {
  const box = el.getBoundingClientRect();
  return box.bottom > 0 && box.top < viewBottom();
}

/** Whether the end of the transcript is in sight, so that a new turn should be brought in too. */
function followingTheEnd() {
  if (listScrolls()) {
    return turnList.scrollHeight - turnList.scrollTop - turnList.clientHeight < 40;
  }
  const last = turnList.lastElementChild ?? turnList;
  const box = last.getBoundingClientRect();
  return box.bottom > 0 && box.bottom <= viewBottom() + 40;
}

/**
 * Scrolls just enough to show `el`: its box when the transcript has one (never the page), else
 * the page. Never further than needed, so the turns above stay in sight as long as they fit.
 * @param {HTMLElement} el
 */
function reveal(el) {
  const box = el.getBoundingClientRect();
  if (listScrolls()) {
    const list = turnList.getBoundingClientRect();
    if (box.top < list.top) turnList.scrollTop -= list.top - box.top + 8;
    else if (box.bottom > list.bottom) {
      turnList.scrollTop += Math.min(box.bottom - list.bottom + 8, box.top - list.top);
    }
    return;
  }
  const bottom = viewBottom();
  if (box.top < 0) window.scrollBy(0, box.top - 8);
  else if (box.bottom > bottom) window.scrollBy(0, Math.min(box.bottom - bottom + 8, box.top));
}

/** The turn a search hit named: in the middle of the screen (and of its box). */
function revealFoundTurn() {
  if (!foundTurnId) return;
  turnItemOf(foundTurnId)?.scrollIntoView({ block: "center" });
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
  const last = snapshots.at(-1);
  state.chartWidth = Math.round(chartBox.clientWidth);
  if (!last) {
    note.textContent =
      state.call?.status === "active"
        ? "The first snapshot arrives a few seconds into the call."
        : "No analytics were stored for this call.";
    summary.replaceChildren();
    chartBox.replaceChildren();
    return;
  }
  note.textContent = `${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"}; the last one is summarized.`;
  /** @type {[string, string][]} */
  const stats = [
    ["Caller talk", formatMs(last.callerTalkMs)],
    ["Assistant talk", formatMs(last.assistantTalkMs)],
    ["Silence", formatMs(last.silenceMs)],
    ["Interruptions", String(last.interruptions)],
  ];
  // Once the call has ended its own figures (under Details) are the ones to read.
  if (state.call?.status === "active" || state.call?.avgResponseLatencyMs == null) {
    stats.push(
      [
        "Avg latency",
        last.avgResponseLatencyMs === null ? "—" : formatMs(last.avgResponseLatencyMs),
      ],
      [
        "p95 latency",
        last.p95ResponseLatencyMs === null ? "—" : formatMs(last.p95ResponseLatencyMs),
      ],
      [
        "Sentiment",
        last.sentiment === null
          ? "—"
          : `${last.sentiment}${last.sentimentScore === null ? "" : ` (${last.sentimentScore})`}`,
      ],
    );
  }
  summary.replaceChildren(
    ...stats.map(([label, value]) => h("div", {}, [h("dt", {}, [label]), h("dd", {}, [value])])),
  );

  // Drawn at the width they are shown at, so their text is as large on a phone.
  const width = state.chartWidth || undefined;
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
      width,
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
        width,
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
      width,
    }),
  );
  chartBox.replaceChildren(...figures);
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
