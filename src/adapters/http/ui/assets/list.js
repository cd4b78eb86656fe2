// @ts-check
/**
 * The call list at `/` (filters, sortable columns, totals, export, live rows) and the search
 * results at `/?q=`. The list's order is the API's (`sort` and `order`), kept in the page's URL
 * beside the filters; live rows are placed by the same order.
 */
import {
  $,
  ApiError,
  api,
  download,
  formatDateTime,
  formatDuration,
  formatMs,
  formatOffset,
  h,
  keyRequired,
  markedSnippet,
  openFeed,
  ready,
  s,
  showError,
  speakerLabel,
  statusBadge,
} from "./common.js";

const PAGE_SIZE = 25;
const SEARCH_PAGE_SIZE = 50;
/** Pages of search hits read in a row when the date filter keeps none of them. */
const SEARCH_PAGES_PER_STEP = 5;
/** Live rows whose latest turn is read when the list loads (the feed brings the next ones). */
const MAX_LIVE_TURN_READS = 10;
/** How often rows whose analysis is pending are read again (no event says it is done). */
const PENDING_POLL_MS = 5000;
const MAX_PENDING_READS = 10;
/** Events change the totals; they are read again at most this often. */
const TOTALS_DEBOUNCE_MS = 2000;
/** Days without calls are drawn as empty bars up to this span; longer spans show call days. */
const MAX_FILLED_DAYS = 400;
const DAY_MS = 86_400_000;

const params = new URLSearchParams(location.search);

/**
 * @typedef {{ id: string, caller: string | null, called: string | null, callSid: string | null,
 *   status: string, startedAt: string, endedAt: string | null, durationSeconds: number | null,
 *   updatedAt: string, endReason: string | null, turns: number | null, costUsd: number | null,
 *   sentiment: string | null, networkQuality: string | null, topic: string | null,
 *   analysisStatus: string | null, summary: string | null, outcome: string | null }} Call
 * @typedef {{ id: string, callId: string, speaker: string, text: string }} Turn
 * @typedef {{ callId: string, transcriptId: string, speaker: string, snippet: string,
 *   offsetMs: number | null, startedAt: string }} Hit
 * @typedef {{ date: string, calls: number, minutes: number, failed: number,
 *   costUsd: number | null }} DayTotals
 * @typedef {{ calls: number, active?: number, minutes: number, failed: number,
 *   failureRate?: number | null, avgResponseLatencyMs: number | null,
 *   p95ResponseLatencyMs: number | null, costUsd: number | null, days: DayTotals[] }} Totals
 */

async function main() {
  showOneTimeNotice();
  await ready();
  const q = (params.get("q") ?? "").trim();
  if (q) await showSearch(q);
  else await showCalls();
}

/**
 * "The call was deleted." comes as `?deleted=1` from the call page. It is said once: the
 * parameter leaves the URL at once, so neither a reload nor going back says it again.
 */
function showOneTimeNotice() {
  if (!params.has("deleted")) return;
  const notice = $("#notice");
  notice.textContent = "The call was deleted.";
  notice.hidden = false;
  params.delete("deleted");
  const rest = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${rest ? `?${rest}` : ""}`);
}

// ---- formatting -----------------------------------------------------------------------------

const SENTIMENTS = /** @type {Record<string, string>} */ ({
  positive: "Positive",
  neutral: "Neutral",
  negative: "Negative",
});
const QUALITIES = /** @type {Record<string, string>} */ ({
  good: "Good",
  fair: "Fair",
  poor: "Poor",
});
const OUTCOMES = /** @type {Record<string, string>} */ ({ needs_follow_up: "Needs follow-up" });

/** @param {string} name a_name_like_this */
const humanize = (name) => {
  const words = name.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/**
 * The end reason in words: the filter's own option for it, so the page says it one way.
 * @param {string} reason
 */
function endReasonLabel(reason) {
  const option = document.querySelector(`#f-endReason option[value="${CSS.escape(reason)}"]`);
  return option?.textContent ?? humanize(reason);
}

/** @param {string} outcome */
const outcomeLabel = (outcome) => OUTCOMES[outcome] ?? humanize(outcome);

/** @param {number} usd */
function formatCost(usd) {
  if (usd === 0) return "$0.00";
  if (usd < 0.01) return "<$0.01";
  return `$${usd.toFixed(usd < 1 ? 3 : 2)}`;
}

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const dayLabel = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  timeZone: "UTC",
});

const thisYear = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});
const otherYear = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

/**
 * When a call started, as short as a list wants it: the year only when it is not this one.
 * @param {string} iso
 */
function formatStart(iso) {
  const at = new Date(iso);
  return (at.getFullYear() === new Date().getFullYear() ? thisYear : otherYear).format(at);
}

/** @param {string} date YYYY-MM-DD (a UTC day) */
const formatDay = (date) => dayLabel.format(new Date(`${date}T00:00:00Z`));

/** A value the call does not have: a dash for the eye, words for a screen reader. */
const none = () =>
  h("span", { class: "none" }, [
    h("span", { "aria-hidden": "true" }, ["—"]),
    h("span", { class: "visually-hidden" }, ["not known"]),
  ]);

// ---- search ---------------------------------------------------------------------------------

/** @param {string} q */
async function showSearch(q) {
  const form = /** @type {HTMLFormElement} */ ($("#search-filters"));
  const data = new FormData(form);
  const sort = String(data.get("sort")) === "relevance" ? "relevance" : "recent";
  const speaker = String(data.get("speaker") ?? "");
  const since = dayStart(String(data.get("from") ?? ""));
  const until = dayStart(String(data.get("to") ?? ""), 1);
  for (const option of ["recent", "relevance"]) {
    const link = $(`#sort-${option}`);
    if (option === sort) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
  const list = $("#hits");
  const status = $("#search-status");
  const more = /** @type {HTMLButtonElement} */ ($("#hits-more"));
  /** @type {Map<string, { list: HTMLElement, count: HTMLElement, hits: number }>} */
  const groups = new Map();
  let turns = 0;
  let read = 0;
  /** @param {Hit} hit */
  const inRange = (hit) => {
    const started = Date.parse(hit.startedAt);
    return (!since || started >= since.getTime()) && (!until || started < until.getTime());
  };

  /** @param {string | null} cursor */
  const load = async (cursor) => {
    status.textContent = "Searching…";
    more.disabled = true;
    try {
      let next = cursor;
      // Past the date range, whole pages may hold no hit: read on a few pages before asking.
      for (let page = 0, found = 0; page < SEARCH_PAGES_PER_STEP && found === 0; page++) {
        const query = new URLSearchParams({ q, limit: String(SEARCH_PAGE_SIZE), sort });
        if (speaker) query.set("speaker", speaker);
        if (next) query.set("cursor", next);
        const answer = await api(`/api/search?${query}`);
        const hits = /** @type {Hit[]} */ (answer.data).filter(inRange);
        read += answer.data.length;
        found += hits.length;
        turns += hits.length;
        /** @type {string[]} */
        const newCalls = [];
        for (const hit of hits) {
          let group = groups.get(hit.callId);
          if (!group) {
            group = hitGroup(hit);
            groups.set(hit.callId, group);
            newCalls.push(hit.callId);
          }
          group.list.append(hitItem(hit));
          group.hits++;
          group.count.textContent = `${group.hits} turn${group.hits === 1 ? "" : "s"}`;
        }
        void Promise.all(newCalls.map(nameGroup));
        next = answer.nextCursor;
        if (next === null) break;
      }
      const done = next === null;
      const what = `${turns}${done ? "" : "+"} turn${turns === 1 ? "" : "s"} in ${groups.size} call${groups.size === 1 ? "" : "s"}`;
      status.textContent =
        turns === 0 && done
          ? `No turn says that${since || until ? " in calls of those days" : ""}.`
          : turns === 0
            ? `No turn found yet in the ${read} turns read that say it; there may be more.`
            : done
              ? what
              : `${what} so far`;
      more.hidden = done;
      more.onclick = () => load(next);
    } catch (error) {
      showError(status, error);
    } finally {
      more.disabled = false;
    }
  };

  /**
   * A call's hits together, under its caller and time.
   * @param {Hit} hit
   */
  function hitGroup(hit) {
    const href = `/calls/${encodeURIComponent(hit.callId)}`;
    const count = h("span", { class: "group-count" }, []);
    const hits = h("ol", { class: "hits" }, []);
    list.append(
      h("li", { class: "hit-group", "data-call-id": hit.callId }, [
        h("div", { class: "group-head" }, [
          h("h2", { class: "group-title" }, [
            h("a", { href, class: "group-link" }, [
              h("span", { class: "group-caller" }, ["Call"]),
              " · ",
              h("time", { datetime: hit.startedAt }, [formatDateTime(hit.startedAt)]),
            ]),
          ]),
          count,
        ]),
        hits,
      ]),
    );
    return { list: hits, count, hits: 0 };
  }

  /** @param {string} callId */
  async function nameGroup(callId) {
    const target = list.querySelector(
      `.hit-group[data-call-id="${CSS.escape(callId)}"] .group-caller`,
    );
    try {
      const call = /** @type {Call} */ (await api(`/api/calls/${encodeURIComponent(callId)}`));
      if (target) target.textContent = call.caller ?? "Unknown caller";
    } catch {
      // The hits still lead to the call; its name is only a help.
    }
  }

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
      hit.offsetMs === null
        ? null
        : h("span", { class: "hit-when" }, [`at ${formatOffset(hit.offsetMs)}`]),
    ]),
  ]);
}

// ---- filters --------------------------------------------------------------------------------

/**
 * The list's filters, as the server-rendered form shows them (read once: the form applies what
 * it shows only when submitted).
 * @typedef {{ status: string, caller: string, called: string, outcome: string,
 *   endReason: string, sentiment: string, minDuration: string, maxDuration: string,
 *   since: Date | null, until: Date | null }} Filters
 */

/** The form's field for each API parameter (the API's 400 names its parameter). */
const FIELD_OF = /** @type {Record<string, string>} */ ({
  callerContains: "caller",
  called: "called",
  status: "status",
  outcome: "outcome",
  endReason: "endReason",
  sentiment: "sentiment",
  minDuration: "minDuration",
  maxDuration: "maxDuration",
  since: "from",
  until: "to",
});

/** @returns {Filters} */
function readFilters() {
  const data = new FormData(/** @type {HTMLFormElement} */ ($("#filters")));
  const value = (/** @type {string} */ name) => String(data.get(name) ?? "").trim();
  return {
    status: value("status"),
    caller: value("caller"),
    called: value("called"),
    outcome: value("outcome"),
    endReason: value("endReason"),
    sentiment: value("sentiment"),
    minDuration: value("minDuration"),
    maxDuration: value("maxDuration"),
    // Days are the viewer's: from local midnight to the end of the `to` day.
    since: dayStart(value("from")),
    until: dayStart(value("to"), 1),
  };
}

/**
 * Local midnight of a YYYY-MM-DD day (plus `addDays`), or null for no day.
 * @param {string} date
 * @param {number} [addDays]
 */
function dayStart(date, addDays = 0) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return null;
  const [y, m, d] = date.split("-").map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + addDays);
}

/** @param {Filters} f */
const anyFilter = (f) =>
  Object.values(f).some((value) => value !== "" && value !== null && value !== undefined);

/**
 * The API's query for these filters (the list's, the export's and the totals').
 * @param {Filters} f
 */
function apiQuery(f) {
  const query = new URLSearchParams();
  if (f.status) query.set("status", f.status);
  if (f.caller) query.set("callerContains", f.caller);
  if (f.called) query.set("called", f.called);
  if (f.outcome) query.set("outcome", f.outcome);
  if (f.endReason) query.set("endReason", f.endReason);
  if (f.sentiment) query.set("sentiment", f.sentiment);
  if (f.minDuration) query.set("minDuration", f.minDuration);
  if (f.maxDuration) query.set("maxDuration", f.maxDuration);
  if (f.since) query.set("since", f.since.toISOString());
  if (f.until) query.set("until", f.until.toISOString());
  return query;
}

/**
 * Whether a call the feed announces belongs in the list: the API's filters, applied here.
 * @param {Call} call
 * @param {Filters} f
 */
function matchesFilters(call, f) {
  if (f.status && call.status !== f.status) return false;
  if (f.caller && !(call.caller ?? "").replace(/\D/g, "").includes(f.caller.replace(/\D/g, ""))) {
    return false;
  }
  if (f.called && call.called !== f.called) return false;
  if (f.outcome && call.outcome !== f.outcome) return false;
  if (f.endReason && call.endReason !== f.endReason) return false;
  if (f.sentiment && call.sentiment !== f.sentiment) return false;
  const duration = call.durationSeconds;
  if (f.minDuration && (duration === null || duration < Number(f.minDuration))) return false;
  if (f.maxDuration && (duration === null || duration > Number(f.maxDuration))) return false;
  const started = Date.parse(call.startedAt);
  if (f.since && started < f.since.getTime()) return false;
  if (f.until && started >= f.until.getTime()) return false;
  return true;
}

/**
 * Shows the API's 400 next to the field it names: `<field>: <reason>`. False when it names no
 * field of the form.
 * @param {unknown} error
 */
function showFieldError(error) {
  if (!(error instanceof ApiError) || error.code !== "invalid_request") return false;
  const split = error.message.indexOf(": ");
  if (split < 0) return false;
  const name = FIELD_OF[error.message.slice(0, split)];
  if (!name) return false;
  const control = document.getElementById(`f-${name}`);
  const message = document.getElementById(`f-${name}-error`);
  if (!control || !message) return false;
  // The reason may name other parameters ("must be later than since"): by their labels here.
  const reason = error.message
    .slice(split + 2)
    .replace(/\b(callerContains|since|until|minDuration|maxDuration)\b/g, (api) => {
      const label = document.querySelector(`label[for="f-${FIELD_OF[api]}"]`);
      return `“${label?.firstChild?.textContent?.trim() ?? api}”`;
    });
  message.textContent = reason.charAt(0).toUpperCase() + reason.slice(1);
  message.hidden = false;
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", message.id);
  const more = control.closest("details");
  if (more) more.open = true;
  control.focus();
  return true;
}

// ---- order ----------------------------------------------------------------------------------

/**
 * The list's order: one of the options of the phone's select, which the server renders from the
 * URL (`sort` and `order`, as the API names them).
 * @typedef {{ field: "startedAt" | "durationSeconds" | "costUsd", order: "asc" | "desc" }} Sort
 */

const sortSelect = () => /** @type {HTMLSelectElement} */ ($("#list-sort"));

/** @param {string} value `field:order`, as the select's options are */
function parseSort(value) {
  const [field, order] = value.split(":");
  return /** @type {Sort} */ ({
    field: field === "durationSeconds" || field === "costUsd" ? field : "startedAt",
    order: order === "asc" ? "asc" : "desc",
  });
}

/** @param {Sort} sort */
const isDefaultSort = (sort) => sort.field === "startedAt" && sort.order === "desc";

/**
 * The API's parameters for `sort`, added to `query` (none for newest first, the default).
 * @param {Sort} sort
 * @param {URLSearchParams} query
 */
function addSort(sort, query) {
  if (isDefaultSort(sort)) {
    query.delete("sort");
    query.delete("order");
  } else {
    query.set("sort", sort.field);
    query.set("order", sort.order);
  }
  return query;
}

/**
 * A heading's button sorts by its column; on the column sorted by, it turns the order round.
 * Longest, dearest and newest come first at first.
 * @param {Sort} current
 * @param {Sort["field"]} field
 * @returns {Sort}
 */
const sortByHeading = (current, field) => ({
  field,
  order: current.field === field && current.order === "desc" ? "asc" : "desc",
});

/**
 * Says `sort` wherever the page shows the order: the headings' aria-sort, the select, the
 * section's heading and the table's caption, the URL (so a reload or a shared link keeps it)
 * and the filter form (so that Apply keeps it).
 * @param {Sort} sort
 */
function showSort(sort) {
  for (const th of document.querySelectorAll("table.calls th[data-sort]")) {
    if (/** @type {HTMLElement} */ (th).dataset.sort === sort.field) {
      th.setAttribute("aria-sort", sort.order === "asc" ? "ascending" : "descending");
    } else th.removeAttribute("aria-sort");
  }
  const select = sortSelect();
  select.value = `${sort.field}:${sort.order}`;
  const label = select.selectedOptions[0]?.textContent ?? "";
  $("#list-heading").textContent = label;
  $("#list-caption").textContent = `Calls, ${label.toLowerCase()}`;
  const sortInput = /** @type {HTMLInputElement} */ ($("#f-sort"));
  const orderInput = /** @type {HTMLInputElement} */ ($("#f-order"));
  sortInput.value = sort.field;
  orderInput.value = sort.order;
  sortInput.disabled = orderInput.disabled = isDefaultSort(sort);
  const rest = addSort(sort, new URLSearchParams(location.search)).toString();
  history.replaceState(history.state, "", `${location.pathname}${rest ? `?${rest}` : ""}`);
}

/**
 * The value a call is sorted by: null for a call without one, which comes after all the others
 * in either order (a live call has no duration yet).
 * @param {Call} call
 * @param {Sort["field"]} field
 */
const sortValue = (call, field) =>
  field === "startedAt" ? Date.parse(call.startedAt) : call[field];

/**
 * Whether `a` comes before `b` in `sort`: by the value, then the start, then the id, as the API
 * orders them.
 * @param {Call} a
 * @param {Call} b
 * @param {Sort} sort
 */
function sortsBefore(a, b, sort) {
  const av = sortValue(a, sort.field);
  const bv = sortValue(b, sort.field);
  if ((av === null) !== (bv === null)) return bv === null;
  const keys = /** @type {[number | string, number | string][]} */ ([
    [av ?? 0, bv ?? 0],
    [Date.parse(a.startedAt), Date.parse(b.startedAt)],
    [a.id, b.id],
  ]);
  for (const [x, y] of keys) {
    if (x !== y) return sort.order === "asc" ? x < y : x > y;
  }
  return false;
}

// ---- calls ----------------------------------------------------------------------------------

/** The call each row shows, for placing rows the feed brings among them. */
const callOfRow = /** @type {WeakMap<Element, Call>} */ (new WeakMap());

async function showCalls() {
  const f = readFilters();
  let sort = parseSort(sortSelect().value);
  const rows = $("#call-rows");
  const status = $("#list-status");
  const empty = $("#empty-state");
  const more = /** @type {HTMLButtonElement} */ ($("#load-more"));
  /**
   * The newest state the feed told of each call, so that a page read meanwhile is not older.
   * @type {Map<string, Call>}
   */
  const fromFeed = new Map();
  const liveView = f.status === "active" && !anyFilter({ ...f, status: "" });
  let hasMore = false;
  let failed = false;
  const exports = $("#exports");
  let exportsReady = false;

  const updateStatus = () => {
    updateLiveCount();
    if (failed) return;
    const count = rows.children.length;
    // Nothing to download while nothing is listed.
    exports.hidden = !exportsReady || count === 0;
    const emptyDatabase = count === 0 && !hasMore && !anyFilter(f);
    empty.hidden = !emptyDatabase;
    if (emptyDatabase) status.textContent = "";
    else if (count > 0) {
      status.textContent = `${count} call${count === 1 ? "" : "s"} shown${hasMore ? ", more below" : ""}`;
    } else if (liveView) {
      status.textContent = "No call is live now. Calls appear here as they start.";
    } else status.textContent = "No calls match these filters.";
  };

  /**
   * Puts a call's row where it belongs in the list's order. A call the feed brings that belongs
   * past the rows shown is left to the page that lists it; a page's own calls, and calls already
   * shown, belong among them.
   * @param {Call} call
   * @param {boolean} listed
   */
  const place = (call, listed) => {
    const row = callRow(call);
    callOfRow.set(row, call);
    const existing = rowOf(call.id);
    const later = [...rows.children].find((other) => {
      const shown = callOfRow.get(other);
      return other !== existing && shown !== undefined && sortsBefore(call, shown, sort);
    });
    if (later) later.before(row);
    else if (listed || existing || !hasMore) rows.append(row);
    existing?.remove();
  };

  /** @param {Call} call */
  const follow = (call) => {
    fromFeed.set(call.id, call);
    if (failed) return;
    if (matchesFilters(call, f)) place(call, false);
    else rowOf(call.id)?.remove();
    updateStatus();
    totals.refreshSoon();
  };

  const totals = totalsPanel(f);

  /** Counts the loads, so that a page asked for before the order changed is not shown. */
  let loads = 0;

  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const query = addSort(sort, apiQuery(f));
    query.set("limit", String(PAGE_SIZE));
    if (cursor) query.set("cursor", cursor);
    const thisLoad = ++loads;
    more.disabled = true;
    try {
      const page = await api(`/api/calls?${query}`);
      if (thisLoad !== loads) return;
      if (!cursor) rows.replaceChildren();
      hasMore = page.nextCursor !== null;
      for (const listed of /** @type {Call[]} */ (page.data)) {
        const heard = fromFeed.get(listed.id);
        // A call the feed has told of since (it ended, say) may have left the filters.
        const call = heard && heard.updatedAt >= listed.updatedAt ? heard : listed;
        if (call === listed || matchesFilters(call, f)) place(call, true);
      }
      more.hidden = !hasMore;
      more.onclick = () => load(page.nextCursor);
      updateStatus();
      void readLatestTurns();
    } catch (error) {
      if (thisLoad !== loads) return;
      failed = true;
      more.hidden = true;
      if (showFieldError(error)) {
        status.textContent = "A filter is not valid: see the message under it.";
        totals.hide();
      } else showError(status, error);
    } finally {
      more.disabled = false;
    }
  };

  // Subscribed before the first page loads, so a call that starts meanwhile is not missed.
  const feed = openFeed(
    "/api/events",
    {
      "call.started": follow,
      "call.ended": follow,
      transcript: (/** @type {Turn} */ turn) => {
        const row = rowOf(turn.callId);
        if (row?.classList.contains("is-live")) showLatestTurn(row, turn);
      },
    },
    // Events may have been missed while disconnected: reload what is shown.
    {
      onReconnect: () => {
        void load(null);
        totals.refreshSoon();
      },
    },
  );
  /** @param {Sort} next */
  const sortBy = async (next) => {
    sort = next;
    showSort(sort);
    await load(null);
    if (exportsReady) showExports(f, sort);
  };
  for (const button of document.querySelectorAll("table.calls .sort-button")) {
    const field = parseSort(/** @type {HTMLElement} */ (button).dataset.sort ?? "").field;
    button.addEventListener("click", () => void sortBy(sortByHeading(sort, field)));
  }
  sortSelect().addEventListener("change", () => void sortBy(parseSort(sortSelect().value)));

  await feed.opened;
  await load(null);
  if (failed) return;
  showExports(f, sort);
  exportsReady = true;
  updateStatus();
  await totals.refresh();
  setInterval(tickLiveDurations, 1000);
  setInterval(() => void refreshPending(follow), PENDING_POLL_MS);
}

/** @param {string} id */
function rowOf(id) {
  return document.querySelector(`tr[data-call-id="${CSS.escape(id)}"]`);
}

/**
 * @param {string} label
 * @param {(Node | string | null)[]} content
 * @param {string} [className]
 */
const cell = (label, content, className) =>
  h("td", { "data-label": label, class: className ?? null }, content);

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
      "data-analysis": call.analysisStatus,
      class: live ? "is-live" : null,
    },
    [
      cell(
        "Call",
        [
          h("a", { href: `/calls/${encodeURIComponent(call.id)}`, class: "call-link" }, [
            h("time", { datetime: call.startedAt, title: formatDateTime(call.startedAt) }, [
              formatStart(call.startedAt),
            ]),
          ]),
          " ",
          statusBadge(call.status),
        ],
        "started",
      ),
      cell(
        "Caller",
        [
          h("span", { class: "caller" }, [call.caller ?? "Unknown"]),
          call.called ? h("span", { class: "called" }, [`to ${call.called}`]) : null,
        ],
        "who",
      ),
      cell("About", [about(call)], "about"),
      cell("Ending", ending(call), "ending"),
      cell("Duration", [formatDuration(duration)], "num duration"),
      cell("Cost", [call.costUsd === null ? none() : formatCost(call.costUsd)], "num cost"),
      cell(
        "Sentiment",
        [
          call.sentiment
            ? h("span", { class: `sentiment sentiment-${call.sentiment}` }, [
                SENTIMENTS[call.sentiment] ?? call.sentiment,
              ])
            : none(),
        ],
        "mood",
      ),
      cell(
        "Line quality",
        [
          call.networkQuality
            ? h("span", { class: `quality quality-${call.networkQuality}` }, [
                QUALITIES[call.networkQuality] ?? call.networkQuality,
              ])
            : none(),
        ],
        "line",
      ),
    ],
  );
}

/**
 * What the call was about: the model's summary, else the caller's first words; a live call's
 * latest turn (filled by the feed).
 * @param {Call} call
 */
function about(call) {
  if (call.status === "active") return h("span", { class: "muted-text" }, ["No words yet"]);
  if (call.summary) return h("span", { class: "summary" }, [call.summary]);
  if (call.topic) {
    return h("span", { class: "topic" }, [
      h("q", {}, [call.topic]),
      call.analysisStatus === "pending"
        ? h("span", { class: "muted-text" }, [" · Analysing…"])
        : null,
    ]);
  }
  return h("span", { class: "muted-text" }, [
    call.analysisStatus === "pending" ? "Analysing…" : "No words",
  ]);
}

/**
 * How the call ended: the reason in words and the model's outcome as a badge.
 * @param {Call} call
 * @returns {(Node | string | null)[]}
 */
function ending(call) {
  if (call.status === "active") return [];
  const parts = [
    call.endReason
      ? h("span", { class: "end-reason", "data-reason": call.endReason }, [
          endReasonLabel(call.endReason),
        ])
      : null,
    call.outcome
      ? h("span", { class: `outcome outcome-${call.outcome}` }, [outcomeLabel(call.outcome)])
      : null,
  ];
  return parts.some(Boolean) ? parts : [none()];
}

/**
 * @param {Element} row
 * @param {Turn} turn
 */
function showLatestTurn(row, turn) {
  const target = row.querySelector(".about");
  if (!target || !turn.text) return;
  target.replaceChildren(
    h("span", { class: "latest-turn" }, [
      h("span", { class: `speaker speaker-${turn.speaker}` }, [speakerLabel(turn.speaker)]),
      " ",
      turn.text,
    ]),
  );
  target.setAttribute("data-turn", turn.id);
}

/** A live row shown by a page load has had turns already: its latest is read once. */
async function readLatestTurns() {
  const live = [...document.querySelectorAll("tr.is-live:not([data-read])")].slice(
    0,
    MAX_LIVE_TURN_READS,
  );
  await Promise.all(
    live.map(async (row) => {
      row.setAttribute("data-read", "");
      const id = /** @type {HTMLElement} */ (row).dataset.callId ?? "";
      try {
        const answer = await api(`/api/calls/${encodeURIComponent(id)}/transcripts`);
        const turns = /** @type {Turn[]} */ (answer.data).filter((turn) => turn.text);
        const last = turns.at(-1);
        // The feed may have shown a newer turn meanwhile.
        if (last && row.isConnected && !row.querySelector(".about[data-turn]")) {
          showLatestTurn(row, last);
        }
      } catch {
        // The feed shows the next turn.
      }
    }),
  );
}

let refreshing = false;

/**
 * No event says that a call's analysis is done: rows still pending are read again now and then.
 * @param {(call: Call) => void} follow
 */
async function refreshPending(follow) {
  if (refreshing || document.hidden) return;
  const pending = [...document.querySelectorAll('tr[data-analysis="pending"]')].slice(
    0,
    MAX_PENDING_READS,
  );
  refreshing = true;
  try {
    for (const row of pending) {
      const id = /** @type {HTMLElement} */ (row).dataset.callId ?? "";
      try {
        const call = /** @type {Call} */ (await api(`/api/calls/${encodeURIComponent(id)}`));
        if (call.analysisStatus !== "pending") follow(call);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) row.remove();
      }
    }
  } finally {
    refreshing = false;
  }
}

function tickLiveDurations() {
  for (const row of document.querySelectorAll("tr.is-live")) {
    const started = Date.parse(/** @type {HTMLElement} */ (row).dataset.started ?? "");
    const target = row.querySelector(".duration");
    if (target && Number.isFinite(started)) {
      target.textContent = formatDuration((Date.now() - started) / 1000);
    }
  }
}

function updateLiveCount() {
  const live = document.querySelectorAll("tr.is-live").length;
  const badge = $("#live-count");
  badge.textContent = `${live} live`;
  badge.hidden = live === 0;
}

// ---- export ---------------------------------------------------------------------------------

/**
 * The filtered list as CSV or JSON Lines, in the list's order. Signed URLs do not cover the
 * export (its filters are its query), so where a key is set the file is fetched with it and
 * saved from a Blob.
 * @param {Filters} f
 * @param {Sort} sort
 */
function showExports(f, sort) {
  const status = $("#export-status");
  for (const [format, label] of /** @type {const} */ ([
    ["csv", "CSV"],
    ["jsonl", "JSON Lines"],
  ])) {
    const link = /** @type {HTMLAnchorElement} */ ($(`#export-${format}`));
    const query = addSort(sort, apiQuery(f));
    query.set("format", format);
    const path = `/api/export/calls?${query}`;
    link.href = path;
    if (!keyRequired()) continue;
    link.onclick = async (event) => {
      event.preventDefault();
      if (link.getAttribute("aria-disabled") === "true") return;
      link.setAttribute("aria-disabled", "true");
      status.textContent = `Preparing the ${label} file…`;
      try {
        await download(path, `calls.${format}`);
        status.textContent = `The ${label} file is downloaded.`;
      } catch (error) {
        showError(status, error);
      } finally {
        link.removeAttribute("aria-disabled");
      }
    };
  }
}

// ---- totals ---------------------------------------------------------------------------------

/**
 * The totals of the filtered calls above the list, with a bar per day.
 * @param {Filters} f
 */
function totalsPanel(f) {
  const section = $("#totals-section");
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let available = true;

  const refresh = async () => {
    if (!available) return;
    try {
      const totals = /** @type {Totals} */ (await api(`/api/totals/calls?${apiQuery(f)}`));
      renderTotals(totals, anyFilter(f));
      // No calls: the list says so (and how to place one); zeros would only repeat it.
      section.hidden = totals.calls === 0;
    } catch (error) {
      // A server without totals (404), or filters it refuses (their message is by the field).
      if (error instanceof ApiError && error.status < 500) {
        available = false;
        section.hidden = true;
      } else showError($("#totals-scope"), error);
    }
  };
  return {
    refresh,
    /** After an event: many may come together, so they are read once for all. */
    refreshSoon() {
      if (timer !== null || !available) return;
      timer = setTimeout(() => {
        timer = null;
        void refresh();
      }, TOTALS_DEBOUNCE_MS);
    },
    hide() {
      available = false;
      section.hidden = true;
    },
  };
}

/**
 * @param {Totals} t
 * @param {boolean} filtered
 */
function renderTotals(t, filtered) {
  $("#totals-scope").textContent = filtered
    ? "Of the calls these filters select"
    : "Of every call stored";
  const ended = t.calls - (t.active ?? 0);
  const failureRate =
    t.failureRate !== undefined ? t.failureRate : ended > 0 ? t.failed / ended : null;
  /** @type {[string, string, string | null][]} */
  const stats = [
    ["calls", "Calls", `${t.calls}${t.active ? ` (${t.active} live)` : ""}`],
    ["minutes", "Minutes", number.format(t.minutes)],
    [
      "failure-rate",
      "Failure rate",
      failureRate === null ? null : `${percent.format(failureRate)} (${t.failed} failed)`,
    ],
    [
      "avg-latency",
      "Avg response",
      t.avgResponseLatencyMs === null ? null : formatMs(t.avgResponseLatencyMs),
    ],
    [
      "p95-latency",
      "p95 response",
      t.p95ResponseLatencyMs === null ? null : formatMs(t.p95ResponseLatencyMs),
    ],
    ["cost", "Cost", t.costUsd === null ? null : formatCost(t.costUsd)],
  ];
  $("#totals").replaceChildren(
    ...stats.map(([key, label, value]) =>
      h("div", { "data-total": key }, [h("dt", {}, [label]), h("dd", {}, [value ?? none()])]),
    ),
  );
  renderDays(t.days);
}

/**
 * Days from the first to the last with calls, the days between with none filled in (up to
 * MAX_FILLED_DAYS: a longer span shows only the days with calls).
 * @param {DayTotals[]} days
 * @returns {DayTotals[]}
 */
function filledDays(days) {
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return [];
  const start = Date.parse(`${first.date}T00:00:00Z`);
  const span = Math.round((Date.parse(`${last.date}T00:00:00Z`) - start) / DAY_MS) + 1;
  if (span > MAX_FILLED_DAYS) return days;
  const byDate = new Map(days.map((day) => [day.date, day]));
  return Array.from({ length: span }, (_, i) => {
    const date = new Date(start + i * DAY_MS).toISOString().slice(0, 10);
    return byDate.get(date) ?? { date, calls: 0, minutes: 0, failed: 0, costUsd: null };
  });
}

/** @param {DayTotals[]} apiDays */
function renderDays(apiDays) {
  const figure = $("#per-day");
  const days = filledDays(apiDays);
  figure.hidden = days.length === 0;
  const first = days[0];
  const last = days.at(-1);
  if (!first || !last) return;
  const max = Math.max(1, ...days.map((day) => day.calls));
  const busiest = days.reduce((best, day) => (day.calls > best.calls ? day : best), first);
  $("#per-day-caption").replaceChildren(
    h("span", { class: "chart-title" }, ["Calls per day"]),
    h("span", { class: "muted-text" }, [" (UTC days)"]),
    h("ul", { class: "legend" }, [
      h("li", {}, [h("span", { class: "swatch bar-ok", "aria-hidden": "true" }), "Completed"]),
      h("li", {}, [h("span", { class: "swatch bar-failed", "aria-hidden": "true" }), "Failed"]),
    ]),
  );
  const slots = days.length;
  const bars = days.flatMap((day, i) => {
    const x = i * 10 + 1;
    const height = (day.calls / max) * 100;
    const failed = (day.failed / max) * 100;
    return [
      s("rect", { class: "bar-ok", x, y: 100 - height, width: 8, height }),
      day.failed > 0
        ? s("rect", { class: "bar-failed", x, y: 100 - failed, width: 8, height: failed })
        : null,
    ];
  });
  const summary = `${days.length} day${days.length === 1 ? "" : "s"} from ${formatDay(first.date)} to ${formatDay(last.date)}; the busiest, ${formatDay(busiest.date)}, had ${busiest.calls} call${busiest.calls === 1 ? "" : "s"}. The table below gives every day.`;
  const plot = h("div", { class: "per-day-plot" }, [
    h("p", { class: "chart-max muted-text" }, [`${max} call${max === 1 ? "" : "s"}`]),
    s(
      "svg",
      {
        viewBox: `0 0 ${slots * 10} 100`,
        preserveAspectRatio: "none",
        role: "img",
        "aria-label": `Calls per day: ${summary}`,
      },
      [s("line", { class: "axis", x1: 0, x2: slots * 10, y1: 100, y2: 100 }), ...bars],
    ),
    h("div", { class: "chart-days muted-text", "aria-hidden": "true" }, [
      h("span", {}, [formatDay(first.date)]),
      days.length > 1 ? h("span", {}, [formatDay(last.date)]) : null,
    ]),
  ]);
  // The bars stretch to the width, but a few days do not fill it with colour. (Set through
  // the CSSOM: the page's policy refuses style attributes.)
  plot.style.maxWidth = `${Math.max(8, days.length * 2.5)}rem`;
  $("#per-day-chart").replaceChildren(plot);
  $("#per-day-table tbody").replaceChildren(
    ...apiDays
      .slice()
      .reverse()
      .map((day) =>
        h("tr", {}, [
          h("th", { scope: "row" }, [
            h("time", { datetime: day.date }, [formatDay(day.date)]),
            ` ${day.date.slice(0, 4)}`,
          ]),
          h("td", { class: "num" }, [String(day.calls)]),
          h("td", { class: "num" }, [String(day.failed)]),
          h("td", { class: "num" }, [number.format(day.minutes)]),
          h("td", { class: "num" }, [day.costUsd === null ? none() : formatCost(day.costUsd)]),
        ]),
      ),
  );
}

main().catch((error) => {
  const target = params.get("q") ? $("#search-status") : $("#list-status");
  showError(target, error);
});
