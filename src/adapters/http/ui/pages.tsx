import type { Child } from "hono/jsx";

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

export interface CallFilters {
  status: string;
  caller: string;
  from: string;
  to: string;
}

const STATUS_OPTIONS = [
  ["", "Any"],
  ["active", "Live"],
  ["completed", "Completed"],
  ["failed", "Failed"],
] as const;

export function ListPage(props: { apiKeyRequired: boolean; filters: CallFilters; query: string }) {
  const { filters, query } = props;
  const searching = query !== "";
  return (
    <Layout
      title={searching ? `Search: ${query}` : "Calls"}
      script="list.js"
      apiKeyRequired={props.apiKeyRequired}
      query={query}
    >
      <section id="search-results" aria-labelledby="search-heading" hidden={!searching}>
        <div class="section-head">
          <h1 id="search-heading">
            Turns that say “<span id="search-query">{query}</span>”
          </h1>
          <nav class="sort-toggle" aria-label="Order of the turns found">
            <a id="sort-recent" href={`/?${new URLSearchParams({ q: query, sort: "recent" })}`}>
              Newest first
            </a>
            <a
              id="sort-relevance"
              href={`/?${new URLSearchParams({ q: query, sort: "relevance" })}`}
            >
              Best match
            </a>
          </nav>
          <a href="/" class="button secondary">
            All calls
          </a>
        </div>
        <p id="search-status" class="status-line" role="status" />
        <ol id="hits" class="hits" />
        <button type="button" id="hits-more" hidden>
          More results
        </button>
      </section>
      <section id="calls-section" aria-labelledby="calls-heading" hidden={searching}>
        <div class="section-head">
          <h1 id="calls-heading">Calls</h1>
          <span id="live-count" class="badge badge-live" hidden />
        </div>
        <form id="filters" class="filters" method="get" action="/">
          <label>
            Status
            <select name="status">
              {STATUS_OPTIONS.map(([value, label]) => (
                <option value={value} selected={filters.status === value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Caller
            <input
              name="caller"
              type="text"
              inputmode="tel"
              placeholder="+15555550123"
              value={filters.caller}
            />
          </label>
          <label>
            From
            <input name="from" type="date" value={filters.from} />
          </label>
          <label>
            To
            <input name="to" type="date" value={filters.to} />
          </label>
          <div class="filter-actions">
            <button type="submit" class="primary">
              Apply
            </button>
            <a href="/" class="button secondary">
              Reset
            </a>
          </div>
        </form>
        <p id="list-status" class="status-line" role="status" />
        <div class="table-wrap">
          <table class="calls">
            <caption class="visually-hidden">Calls, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Caller</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col">Latest turn</th>
              </tr>
            </thead>
            <tbody id="call-rows" />
          </table>
        </div>
        <button type="button" id="load-more" hidden>
          Load more
        </button>
      </section>
    </Layout>
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
        <dl id="call-meta" class="meta-grid" />
        <section id="recording-section" aria-labelledby="recording-heading">
          <h2 id="recording-heading">Recording</h2>
          <p id="recording-note" class="muted" />
          <div id="waveform" class="waveform" hidden />
          <div class="player-row">
            {/* biome-ignore lint/a11y/useMediaCaption: the transcript beside the player, which follows playback, is the text of the audio */}
            <audio id="player" controls preload="metadata" hidden />
            <span id="clock" class="clock" aria-hidden="true" />
          </div>
          <div class="actions">
            <button type="button" id="delete" class="danger" hidden>
              Delete call…
            </button>
          </div>
        </section>
        <div class="columns">
          <section aria-labelledby="transcript-heading">
            <h2 id="transcript-heading">Transcript</h2>
            <p id="transcript-note" class="muted" />
            <ol id="turns" class="turns" />
          </section>
          <section aria-labelledby="analytics-heading">
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
