// @ts-check
/** The call list at `/` (with filters and live rows) and the search results at `/?q=`. */
import {
  $,
  api,
  formatDateTime,
  formatDuration,
  formatOffset,
  h,
  markedSnippet,
  openFeed,
  ready,
  showError,
  speakerLabel,
  statusBadge,
} from "./common.js";

const PAGE_SIZE = 25;
const params = new URLSearchParams(location.search);
/**
 * Newest first unless the best match is asked for: it costs the same however common the words
 * are, where ranking reads thousands of matches.
 */
const searchSort = params.get("sort") === "relevance" ? "relevance" : "recent";

/**
 * @typedef {{ id: string, caller: string | null, callSid: string | null, status: string,
 *   startedAt: string, endedAt: string | null, durationSeconds: number | null }} Call
 * @typedef {{ id: string, callId: string, speaker: string, text: string }} Turn
 * @typedef {{ callId: string, transcriptId: string, speaker: string, snippet: string,
 *   offsetMs: number | null, startedAt: string }} Hit
 */

async function main() {
  await ready();
  const q = (params.get("q") ?? "").trim();
  if (q) await showSearch(q);
  else await showCalls();
}

// ---- search ---------------------------------------------------------------------------------

/** @param {string} q */
async function showSearch(q) {
  const list = $("#hits");
  const status = $("#search-status");
  const more = /** @type {HTMLButtonElement} */ ($("#hits-more"));
  for (const sort of ["recent", "relevance"]) {
    const link = $(`#sort-${sort}`);
    if (sort === searchSort) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
  let shown = 0;
  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const query = new URLSearchParams({ q, limit: "20", sort: searchSort });
    if (cursor) query.set("cursor", cursor);
    status.textContent = "Searching…";
    try {
      const page = await api(`/api/search?${query}`);
      for (const hit of /** @type {Hit[]} */ (page.data)) list.append(hitItem(hit));
      shown += page.data.length;
      status.textContent =
        shown === 0 ? "No turn says that." : `${shown} turn${shown === 1 ? "" : "s"} found`;
      more.hidden = page.nextCursor === null;
      more.onclick = () => load(page.nextCursor);
    } catch (error) {
      showError(status, error);
    }
  };
  await load(null);
}

/** @param {Hit} hit */
function hitItem(hit) {
  const target = new URLSearchParams({ turn: hit.transcriptId });
  if (hit.offsetMs !== null) target.set("t", String(hit.offsetMs));
  return h("li", { class: "hit" }, [
    h("a", { href: `/calls/${encodeURIComponent(hit.callId)}?${target}` }, [
      h("span", { class: `speaker speaker-${hit.speaker}` }, [speakerLabel(hit.speaker)]),
      h("span", { class: "snippet" }, [markedSnippet(hit.snippet)]),
      h("span", { class: "hit-when" }, [
        hit.offsetMs === null ? "" : `at ${formatOffset(hit.offsetMs)} · `,
        `call of ${formatDateTime(hit.startedAt)}`,
      ]),
    ]),
  ]);
}

// ---- calls ----------------------------------------------------------------------------------

/** The filters of the URL (the form is server-rendered with the same values). */
function filters() {
  const status = params.get("status") ?? "";
  const caller = (params.get("caller") ?? "").trim();
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  // Dates are the viewer's local days: from local midnight to the end of the `to` day.
  const since = from ? localMidnight(from) : null;
  const until = to ? localMidnight(to, 1) : null;
  return { status, caller, since, until };
}

/**
 * @param {string} date YYYY-MM-DD
 * @param {number} [addDays]
 */
function localMidnight(date, addDays = 0) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + addDays);
}

/** @param {Call} call */
function matchesFilters(call) {
  const f = filters();
  if (f.status && call.status !== f.status) return false;
  if (f.caller && call.caller !== f.caller) return false;
  const started = new Date(call.startedAt);
  if (f.since && started < f.since) return false;
  if (f.until && started >= f.until) return false;
  return true;
}

async function showCalls() {
  const rows = $("#call-rows");
  const status = $("#list-status");
  const more = /** @type {HTMLButtonElement} */ ($("#load-more"));

  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const f = filters();
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    if (f.status) query.set("status", f.status);
    if (f.caller) query.set("caller", f.caller);
    if (f.since) query.set("since", f.since.toISOString());
    if (f.until) query.set("until", f.until.toISOString());
    more.disabled = true;
    try {
      const page = await api(`/api/calls?${query}`);
      if (!cursor) rows.replaceChildren();
      for (const call of /** @type {Call[]} */ (page.data)) {
        if (!rowOf(call.id)) rows.append(callRow(call));
      }
      more.hidden = page.nextCursor === null;
      more.onclick = () => load(page.nextCursor);
      const count = rows.children.length;
      const deleted = params.has("deleted") ? "The call was deleted. " : "";
      status.textContent =
        deleted +
        (count === 0
          ? "No calls match these filters."
          : `${count} call${count === 1 ? "" : "s"} shown`);
      updateLiveCount();
    } catch (error) {
      showError(status, error);
    } finally {
      more.disabled = false;
    }
  };

  // Subscribed before the first page loads, so a call that starts meanwhile is not missed.
  const feed = openFeed(
    "/api/events",
    {
      "call.started": (/** @type {Call} */ call) => {
        if (!matchesFilters(call) || rowOf(call.id)) return;
        rows.prepend(callRow(call));
        updateLiveCount();
      },
      "call.ended": (/** @type {Call} */ call) => {
        const row = rowOf(call.id);
        if (row) row.replaceWith(callRow(call));
        updateLiveCount();
      },
      transcript: (/** @type {Turn} */ turn) => {
        const cell = rowOf(turn.callId)?.querySelector(".latest");
        if (cell) cell.textContent = `${speakerLabel(turn.speaker)}: ${turn.text}`;
      },
    },
    // Events may have been missed while disconnected: reload what is shown.
    { onReconnect: () => load(null) },
  );
  await feed.opened;
  await load(null);
  setInterval(tickLiveDurations, 1000);
}

/** @param {string} id */
function rowOf(id) {
  return document.querySelector(`tr[data-call-id="${CSS.escape(id)}"]`);
}

/** @param {Call} call */
function callRow(call) {
  const live = call.status === "active";
  const duration = live
    ? (Date.now() - Date.parse(call.startedAt)) / 1000
    : (call.durationSeconds ?? 0);
  return h(
    "tr",
    {
      "data-call-id": call.id,
      "data-started": call.startedAt,
      class: live ? "is-live" : null,
    },
    [
      h("td", {}, [statusBadge(call.status)]),
      h("td", {}, [
        h("a", { href: `/calls/${encodeURIComponent(call.id)}`, class: "call-link" }, [
          h("time", { datetime: call.startedAt }, [formatDateTime(call.startedAt)]),
        ]),
      ]),
      h("td", { class: "caller" }, [call.caller ?? "Unknown"]),
      h("td", { class: "num duration" }, [formatDuration(duration)]),
      h("td", { class: "latest" }, [live ? "…" : ""]),
    ],
  );
}

function tickLiveDurations() {
  for (const row of document.querySelectorAll("tr.is-live")) {
    const started = Date.parse(/** @type {HTMLElement} */ (row).dataset.started ?? "");
    const cell = row.querySelector(".duration");
    if (cell && Number.isFinite(started)) {
      cell.textContent = formatDuration((Date.now() - started) / 1000);
    }
  }
}

function updateLiveCount() {
  const live = document.querySelectorAll("tr.is-live").length;
  const badge = $("#live-count");
  badge.textContent = `${live} live`;
  badge.hidden = live === 0;
}

main().catch((error) => {
  const target = params.get("q") ? $("#search-status") : $("#list-status");
  showError(target, error);
});
