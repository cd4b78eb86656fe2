import type { Child } from "hono/jsx";
// The default outcomes are suggested in the outcome field; ANALYSIS_OUTCOMES may name others,
// which may be typed.
import { DEFAULT_OUTCOMES, END_REASONS, type EndReason } from "../../../domain/call-review.ts";

/**
 * Server-rendered shells. The server renders the structure and the filter state it can read
 * from the URL; the data itself is behind the API key, which only the browser holds, so a
 * small client script fills it in through the same JSON API and event feeds anyone can use.
 */

interface LayoutProps {
  title: string;
  /** The page's entry module in /ui/assets. */
  script?: "list.js" | "call.js";
  apiKeyRequired: boolean;
  query?: string;
  children: Child;
}

const asset = (name: string) => `/ui/assets/${name}`;

export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{`${props.title} · callbridge`}</title>
        <link rel="icon" href={asset("icon.svg")} type="image/svg+xml" />
        <link rel="stylesheet" href={asset("app.css")} />
        {props.script ? (
          <link
            rel="stylesheet"
            href={asset(props.script === "list.js" ? "list.css" : "call.css")}
          />
        ) : null}
        {props.script ? <script type="module" src={asset(props.script)} /> : null}
      </head>
      <body data-api-key={props.apiKeyRequired ? "required" : "open"}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="topbar">
          <a class="brand" href="/">
            <img src={asset("icon.svg")} alt="" width="24" height="24" />
            callbridge
          </a>
          <search class="search-box">
            <form class="search" action="/" method="get">
              <label class="visually-hidden" for="q">
                Search transcripts
              </label>
              <input
                id="q"
                name="q"
                type="search"
                placeholder="Search what was said…"
                autocomplete="off"
                maxlength={500}
                value={props.query ?? ""}
              />
              <button type="submit">Search</button>
            </form>
          </search>
          <button type="button" id="forget-key" class="link-button" hidden>
            Forget API key
          </button>
        </header>
        <main id="main">{props.children}</main>
        <dialog id="key-dialog" aria-labelledby="key-title">
          <form id="key-form" method="dialog">
            <h2 id="key-title">API key</h2>
            <p>
              This server needs its <code>API_KEY</code> to show calls. It stays in this browser.
            </p>
            <label for="key-input">Key</label>
            <input id="key-input" name="key" type="password" autocomplete="current-password" />
            <label class="check">
              <input id="key-remember" type="checkbox" /> Remember on this device
            </label>
            <p id="key-error" class="error" role="alert" hidden />
            <div class="actions">
              <button type="submit" class="primary">
                Continue
              </button>
            </div>
          </form>
        </dialog>
      </body>
    </html>
  );
}

/**
 * The list's filters as the URL gives them. Text is kept as typed (the API checks it, and its
 * message is shown next to the field); a choice the page does not offer is dropped.
 */
export interface CallFilters {
  status: string;
  /** Any part of the caller's number: the API's `callerContains`. */
  caller: string;
  /** The number dialled, exactly. */
  called: string;
  outcome: string;
  endReason: string;
  sentiment: string;
  /** Seconds, as typed. */
  minDuration: string;
  maxDuration: string;
  /** The viewer's local days, YYYY-MM-DD (the script turns them into instants). */
  from: string;
  to: string;
  /** Of the search: caller, assistant, or "" for both. */
  speaker: string;
  sort: "recent" | "relevance";
  /** The list's order: the API's `sort` and `order` (`sort` is the search's own on its page). */
  listSort: ListSortField;
  listOrder: "asc" | "desc";
}

/**
 * The orders the list offers (the API's `sort` and `order`), each as the list's heading says
 * it; the first is the API's default. list.js reads them from the phone's select.
 */
export const LIST_SORTS = [
  ["startedAt", "desc", "Newest first"],
  ["startedAt", "asc", "Oldest first"],
  ["durationSeconds", "desc", "Longest first"],
  ["durationSeconds", "asc", "Shortest first"],
  ["costUsd", "desc", "Most expensive first"],
  ["costUsd", "asc", "Cheapest first"],
] as const;

export type ListSortField = (typeof LIST_SORTS)[number][0];
export const LIST_SORT_FIELDS: readonly ListSortField[] = [
  ...new Set(LIST_SORTS.map(([field]) => field)),
];

const STATUS_OPTIONS = [
  ["", "Any"],
  ["active", "Live"],
  ["completed", "Completed"],
  ["failed", "Failed"],
] as const;

/** How each end reason reads in the list (list.js reads these options for its rows). */
export const END_REASON_LABELS: Record<EndReason, string> = {
  caller_hung_up: "Caller hung up",
  assistant_ended: "Assistant ended the call",
  stream_closed: "Stream closed",
  network_drop: "Network dropped",
  max_duration: "Time limit reached",
  model_failure: "Assistant failed",
  server_shutdown: "Server shut down",
  server_crash: "Server crashed",
};

const SENTIMENT_OPTIONS = [
  ["", "Any"],
  ["positive", "Positive"],
  ["neutral", "Neutral"],
  ["negative", "Negative"],
] as const;

/** The filters folded under "More filters" unless one of them is set. */
const MORE_FILTERS = ["called", "endReason", "sentiment", "minDuration", "maxDuration"] as const;

/**
 * A labelled filter with the place for its error: list.js fills `<id>-error` with the API's
 * message about that field and points the control's aria-describedby at it.
 */
function Field(props: { id: string; label: string; hint?: string; children: Child }) {
  return (
    <div class="field">
      <label for={props.id}>
        {props.label}
        {props.hint ? <span class="hint"> {props.hint}</span> : null}
      </label>
      {props.children}
      <p id={`${props.id}-error`} class="field-error" hidden />
    </div>
  );
}

function Select(props: {
  id: string;
  name: string;
  value: string;
  options: readonly (readonly [string, string])[];
}) {
  return (
    <select id={props.id} name={props.name}>
      {props.options.map(([value, label]) => (
        <option value={value} selected={props.value === value}>
          {label}
        </option>
      ))}
    </select>
  );
}

function SearchPanel(props: { query: string; filters: CallFilters }) {
  const { query, filters } = props;
  const sortHref = (sort: string) => {
    const params = new URLSearchParams({ q: query, sort });
    for (const name of ["speaker", "from", "to"] as const) {
      if (filters[name]) params.set(name, filters[name]);
    }
    return `/?${params}`;
  };
  return (
    <section id="search-results" aria-labelledby="search-heading" hidden={query === ""}>
      <div class="section-head">
        <h1 id="search-heading">
          Turns that say “<span id="search-query">{query}</span>”
        </h1>
        <nav class="sort-toggle" aria-label="Order of the turns found">
          <a id="sort-recent" href={sortHref("recent")}>
            Newest first
          </a>
          <a id="sort-relevance" href={sortHref("relevance")}>
            Best match
          </a>
        </nav>
        <a href="/" class="button secondary">
          All calls
        </a>
      </div>
      <form
        id="search-filters"
        class="filters"
        method="get"
        action="/"
        aria-label="Narrow the search"
      >
        <input type="hidden" name="q" value={query} />
        <input type="hidden" name="sort" value={filters.sort} />
        <div class="filter-row">
          <Field id="s-speaker" label="Said by">
            <Select
              id="s-speaker"
              name="speaker"
              value={filters.speaker}
              options={[
                ["", "Either side"],
                ["caller", "Caller"],
                ["assistant", "Assistant"],
              ]}
            />
          </Field>
          <Field id="s-from" label="Calls from">
            <input id="s-from" name="from" type="date" value={filters.from} />
          </Field>
          <Field id="s-to" label="Calls to">
            <input id="s-to" name="to" type="date" value={filters.to} />
          </Field>
          <div class="filter-actions">
            <button type="submit" class="primary">
              Apply
            </button>
          </div>
        </div>
      </form>
      <p id="search-status" class="status-line" role="status" />
      <ol id="hits" class="hit-groups" />
      <button type="button" id="hits-more" hidden>
        More results
      </button>
    </section>
  );
}

const isDefaultListSort = (filters: CallFilters) =>
  filters.listSort === "startedAt" && filters.listOrder === "desc";

function FilterForm(props: { filters: CallFilters }) {
  const { filters } = props;
  const moreOpen = MORE_FILTERS.some((name) => filters[name] !== "");
  return (
    <form id="filters" class="filters" method="get" action="/" aria-label="Filter the calls">
      <div class="filter-row">
        <Field id="f-caller" label="Caller number" hint="(any part)">
          <input
            id="f-caller"
            name="caller"
            type="text"
            inputmode="tel"
            autocomplete="off"
            placeholder="0123"
            maxlength={256}
            value={filters.caller}
          />
        </Field>
        <Field id="f-status" label="Status">
          <Select id="f-status" name="status" value={filters.status} options={STATUS_OPTIONS} />
        </Field>
        <Field id="f-outcome" label="Outcome">
          <input
            id="f-outcome"
            name="outcome"
            type="text"
            list="outcome-names"
            autocomplete="off"
            maxlength={40}
            value={filters.outcome}
          />
          <datalist id="outcome-names">
            {DEFAULT_OUTCOMES.map((name) => (
              <option value={name} />
            ))}
          </datalist>
        </Field>
        <Field id="f-from" label="From">
          <input id="f-from" name="from" type="date" value={filters.from} />
        </Field>
        <Field id="f-to" label="To">
          <input id="f-to" name="to" type="date" value={filters.to} />
        </Field>
      </div>
      <details class="more-filters" open={moreOpen}>
        <summary>More filters</summary>
        <div class="filter-row">
          <Field id="f-called" label="Number dialled">
            <input
              id="f-called"
              name="called"
              type="text"
              inputmode="tel"
              autocomplete="off"
              maxlength={256}
              value={filters.called}
            />
          </Field>
          <Field id="f-endReason" label="How it ended">
            <Select
              id="f-endReason"
              name="endReason"
              value={filters.endReason}
              options={[["", "Any"], ...END_REASONS.map((r) => [r, END_REASON_LABELS[r]] as const)]}
            />
          </Field>
          <Field id="f-sentiment" label="Sentiment">
            <Select
              id="f-sentiment"
              name="sentiment"
              value={filters.sentiment}
              options={SENTIMENT_OPTIONS}
            />
          </Field>
          <Field id="f-minDuration" label="Longer than" hint="(seconds)">
            <input
              id="f-minDuration"
              name="minDuration"
              type="text"
              inputmode="decimal"
              autocomplete="off"
              maxlength={12}
              value={filters.minDuration}
            />
          </Field>
          <Field id="f-maxDuration" label="Shorter than" hint="(seconds)">
            <input
              id="f-maxDuration"
              name="maxDuration"
              type="text"
              inputmode="decimal"
              autocomplete="off"
              maxlength={12}
              value={filters.maxDuration}
            />
          </Field>
        </div>
      </details>
      {/* The list's order, kept by Apply; list.js keeps these current (none: newest first). */}
      <input
        type="hidden"
        id="f-sort"
        name="sort"
        value={filters.listSort}
        disabled={isDefaultListSort(filters)}
      />
      <input
        type="hidden"
        id="f-order"
        name="order"
        value={filters.listOrder}
        disabled={isDefaultListSort(filters)}
      />
      <div class="filter-actions">
        <button type="submit" class="primary">
          Apply
        </button>
        <a href="/" class="button secondary">
          Reset
        </a>
      </div>
    </form>
  );
}

/**
 * A heading the list sorts by: its button sorts by it (again: the other way), `aria-sort` says
 * how it is sorted now. On a phone the headings are for screen readers only, so the button
 * gives way to plain text there and the select does the sorting.
 */
function SortableHeading(props: {
  field: ListSortField;
  label: string;
  filters: CallFilters;
  class?: string;
}) {
  const { field, label, filters } = props;
  const sorted = filters.listSort === field;
  return (
    <th
      scope="col"
      class={props.class}
      aria-sort={sorted ? (filters.listOrder === "asc" ? "ascending" : "descending") : undefined}
      data-sort={field}
    >
      <button type="button" class="sort-button" data-sort={field}>
        {label}
        <span class="sort-icon" aria-hidden="true" />
      </button>
      <span class="sort-label">{label}</span>
    </th>
  );
}

export function ListPage(props: { apiKeyRequired: boolean; filters: CallFilters; query: string }) {
  const { filters, query } = props;
  const searching = query !== "";
  const sortValue = `${filters.listSort}:${filters.listOrder}`;
  const sortLabel =
    LIST_SORTS.find(([field, order]) => `${field}:${order}` === sortValue)?.[2] ?? "Newest first";
  return (
    <Layout
      title={searching ? `Search: ${query}` : "Calls"}
      script="list.js"
      apiKeyRequired={props.apiKeyRequired}
      query={query}
    >
      <SearchPanel query={query} filters={filters} />
      <div id="calls-view" hidden={searching}>
        <section id="calls-section" aria-labelledby="calls-heading">
          <div class="section-head">
            <h1 id="calls-heading">Calls</h1>
            <span id="live-count" class="badge badge-live" hidden />
          </div>
          <p id="notice" class="notice" role="status" hidden />
          <FilterForm filters={filters} />
        </section>
        <section id="totals-section" aria-labelledby="totals-heading" hidden>
          <div class="section-head">
            <h2 id="totals-heading">Totals</h2>
            <p id="totals-scope" class="muted" />
          </div>
          <dl id="totals" class="stats totals" />
          <figure id="per-day" class="per-day" hidden>
            <figcaption id="per-day-caption" />
            <div id="per-day-chart" class="per-day-chart" />
            <details class="per-day-details">
              <summary>Per day, as a table</summary>
              <div class="per-day-table-wrap">
                <table id="per-day-table" class="per-day-table">
                  <caption class="visually-hidden">Calls per day (UTC)</caption>
                  <thead>
                    <tr>
                      <th scope="col">Day (UTC)</th>
                      <th scope="col" class="num">
                        Calls
                      </th>
                      <th scope="col" class="num">
                        Failed
                      </th>
                      <th scope="col" class="num">
                        Minutes
                      </th>
                      <th scope="col" class="num">
                        Cost
                      </th>
                    </tr>
                  </thead>
                  <tbody />
                </table>
              </div>
            </details>
          </figure>
        </section>
        <section id="list-section" aria-labelledby="list-heading">
          <div class="section-head">
            <h2 id="list-heading">{sortLabel}</h2>
            <div class="list-sort">
              <label for="list-sort">Sort</label>
              <select id="list-sort">
                {LIST_SORTS.map(([field, order, label]) => (
                  <option value={`${field}:${order}`} selected={`${field}:${order}` === sortValue}>
                    {label}
                  </option>
                ))}
              </select>
            </div>
            <nav id="exports" class="exports" aria-label="Download these calls" hidden>
              <a id="export-csv" class="button secondary" href="/api/export/calls?format=csv">
                Download CSV
              </a>
              <a id="export-jsonl" class="button secondary" href="/api/export/calls?format=jsonl">
                Download JSON Lines
              </a>
              <span id="export-status" class="muted-text" role="status" />
            </nav>
          </div>
          <p id="list-status" class="status-line" role="status" />
          <EmptyState />
          <div class="table-wrap">
            <table class="calls">
              <caption id="list-caption" class="visually-hidden">
                Calls, {sortLabel.toLowerCase()}
              </caption>
              <thead>
                <tr>
                  <SortableHeading field="startedAt" label="Call" filters={filters} />
                  <th scope="col">Caller</th>
                  <th scope="col">About</th>
                  <th scope="col">Ending</th>
                  <SortableHeading
                    field="durationSeconds"
                    label="Duration"
                    filters={filters}
                    class="num"
                  />
                  <SortableHeading field="costUsd" label="Cost" filters={filters} class="num" />
                  <th scope="col">Sentiment</th>
                  <th scope="col">Quality</th>
                </tr>
              </thead>
              <tbody id="call-rows" />
            </table>
          </div>
          <button type="button" id="load-more" hidden>
            Load more
          </button>
        </section>
      </div>
    </Layout>
  );
}

/** Shown by list.js when the database has no call at all (no filter set, nothing found). */
function EmptyState() {
  return (
    <div id="empty-state" class="empty-state" hidden>
      <h3>No calls yet</h3>
      <p>Calls appear here as they happen, live. To place a first one without a phone:</p>
      <ol>
        <li>
          Start the server with a local stand-in for the OpenAI assistant: <code>npm run demo</code>
        </li>
        <li>
          In a second terminal, place a call: <code>npm run simulate</code> plays a built-in test
          signal, <code>npm run simulate -- recording.wav</code> plays your own 16-bit WAV file.
        </li>
      </ol>
      <p>
        For real calls, run <code>npm start</code> and point the voice webhook of your Twilio number
        to <code>POST /twilio/voice</code> on this server.
      </p>
    </div>
  );
}

export function CallPage(props: { apiKeyRequired: boolean; callId: string }) {
  return (
    <Layout title="Call" script="call.js" apiKeyRequired={props.apiKeyRequired}>
      <div id="call" data-call-id={props.callId}>
        <p class="back">
          <a href="/">← All calls</a>
        </p>
        <div class="section-head">
          <h1 id="call-title">Call</h1>
          <span id="call-status" class="badge" />
        </div>
        <p id="call-error" class="error" role="alert" hidden />
        {/* Shown instead of everything below when the API has no such call. */}
        <div id="call-missing" class="missing" hidden>
          <p>
            There is no call with the id <code>{props.callId}</code>. It may have been deleted, or
            the link may be incomplete.
          </p>
          <p>
            <a href="/" class="button">
              See all calls
            </a>
          </p>
        </div>
        <section id="review-section" aria-labelledby="review-heading">
          <div class="review-head">
            <h2 id="review-heading">Summary</h2>
            <p id="outcome" class="outcome" hidden />
          </div>
          <p id="analysis-note" class="muted" />
          <p id="summary" class="summary" hidden />
          <dl id="analysis-fields" class="fields" hidden />
        </section>
        <section id="details-section" aria-labelledby="details-heading">
          <h2 id="details-heading">Details</h2>
          <div class="fact-groups">
            <div class="fact-group">
              <h3>Call</h3>
              <dl id="call-meta" class="meta-grid" />
            </div>
            <div class="fact-group">
              <h3>Quality</h3>
              <p id="quality-note" class="muted" hidden />
              <dl id="call-quality" class="meta-grid" />
            </div>
            <div class="fact-group">
              <h3>Cost and usage</h3>
              <p id="cost-note" class="muted" hidden />
              <dl id="call-cost" class="meta-grid" />
            </div>
          </div>
        </section>
        <section id="recording-section" aria-labelledby="recording-heading">
          <h2 id="recording-heading">Recording</h2>
          <p id="recording-note" class="muted" />
          <div id="waveform" class="waveform" hidden />
          {/* Keeps the player's place while it is docked at the foot of the screen. */}
          <div id="player-slot">
            <div class="player-row">
              {/* biome-ignore lint/a11y/useMediaCaption: the transcript beside the player, which follows playback, is the text of the audio */}
              <audio id="player" controls preload="metadata" hidden />
              <span id="clock" class="clock" aria-hidden="true" />
              <span id="player-status" class="muted" role="status" />
            </div>
          </div>
          <div class="actions">
            {/* Each link says "Download …" to a screen reader; this label is for the eye. */}
            <div id="audio-downloads" class="downloads" hidden>
              <span class="downloads-label" aria-hidden="true">
                Download
              </span>
            </div>
            <button type="button" id="delete" class="danger" hidden>
              Delete call…
            </button>
          </div>
        </section>
        <div class="columns">
          <section id="transcript-section" aria-labelledby="transcript-heading">
            <div class="transcript-head">
              <h2 id="transcript-heading">Transcript</h2>
              <div id="transcript-downloads" class="downloads" hidden>
                <span class="downloads-label" aria-hidden="true">
                  Download
                </span>
              </div>
            </div>
            <p id="transcript-note" class="muted" />
            <ol id="turns" class="turns" />
          </section>
          <section id="analytics-section" aria-labelledby="analytics-heading">
            <h2 id="analytics-heading">Analytics</h2>
            <p id="analytics-note" class="muted" />
            <dl id="analytics-summary" class="stats" />
            <div id="charts" class="charts" />
          </section>
        </div>
      </div>
      <dialog id="delete-dialog" aria-labelledby="delete-title">
        <form method="dialog">
          <h2 id="delete-title">Delete this call?</h2>
          <p>Its recordings, transcript, analytics and metadata are removed for good.</p>
          <div class="actions">
            <button type="submit" value="cancel" autofocus>
              Cancel
            </button>
            <button type="submit" value="delete" class="danger">
              Delete
            </button>
          </div>
        </form>
      </dialog>
    </Layout>
  );
}

export function NotFoundPage(props: { apiKeyRequired: boolean }) {
  return (
    <Layout title="Not found" apiKeyRequired={props.apiKeyRequired}>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href="/">See all calls</a>.
      </p>
    </Layout>
  );
}
