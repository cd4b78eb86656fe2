// @ts-check
/**
 * Shared by the pages: the API key, JSON requests, the live feeds, formatting and a tiny DOM
 * builder. Plain JavaScript with JSDoc types, served as it is: no build step.
 */

const KEY_NAME = "callbridge.apiKey";

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @returns {T}
 */
export function $(selector) {
  const found = document.querySelector(selector);
  if (!found) throw new Error(`the page has no ${selector}`);
  return /** @type {T} */ (found);
}

/** @returns {string | null} */
export function storedKey() {
  try {
    return sessionStorage.getItem(KEY_NAME) ?? localStorage.getItem(KEY_NAME);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {boolean} remember
 */
function storeKey(key, remember) {
  try {
    sessionStorage.setItem(KEY_NAME, key);
    if (remember) localStorage.setItem(KEY_NAME, key);
    else localStorage.removeItem(KEY_NAME);
  } catch {
    // Storage can be disabled; the key then lasts as long as the page.
  }
  memoryKey = key;
}

/** @type {string | null} */
let memoryKey = null;
const currentKey = () => storedKey() ?? memoryKey;

export function forgetKey() {
  memoryKey = null;
  try {
    sessionStorage.removeItem(KEY_NAME);
    localStorage.removeItem(KEY_NAME);
  } catch {
    // Nothing stored, nothing to forget.
  }
}

/** True when the server needs the API key (links to /api then cannot be followed as they are). */
export const keyRequired = () => document.body.dataset.apiKey === "required";

/** @type {Promise<void> | null} */
let asking = null;

/**
 * Shows the key dialog until a key the server accepts is entered.
 * @param {string} [message]
 * @returns {Promise<void>}
 */
function askForKey(message) {
  if (asking) return asking;
  const dialog = /** @type {HTMLDialogElement} */ ($("#key-dialog"));
  const form = /** @type {HTMLFormElement} */ ($("#key-form"));
  const input = /** @type {HTMLInputElement} */ ($("#key-input"));
  const remember = /** @type {HTMLInputElement} */ ($("#key-remember"));
  const error = $("#key-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  asking = new Promise((resolve) => {
    // Without a key the page has nothing to show, so Escape does not dismiss the dialog.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    form.onsubmit = async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      const answer = await fetch("/api/calls?limit=1", {
        headers: { Authorization: `Bearer ${key}` },
      });
      if (answer.status === 401) {
        error.textContent = "The server refused that key.";
        error.hidden = false;
        input.select();
        return;
      }
      storeKey(key, remember.checked);
      input.value = "";
      dialog.close();
      asking = null;
      showForgetButton();
      resolve();
    };
    dialog.showModal();
    input.focus();
  });
  return asking;
}

function showForgetButton() {
  const button = $("#forget-key");
  button.hidden = !keyRequired() || !currentKey();
  button.onclick = () => {
    forgetKey();
    location.reload();
  };
}

/** Call first on every page: makes sure there is a key where the server needs one. */
export async function ready() {
  showForgetButton();
  if (keyRequired() && !currentKey()) await askForKey();
}

/**
 * A JSON request to the API with the key; a refused key asks for a new one and retries once.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("Accept", "application/json");
  const answer = await apiResponse(path, { ...init, headers });
  return answer.status === 204 ? null : answer.json();
}

/**
 * A request to the API with the key, answered by a successful Response (its body unread); a
 * refused key asks for a new one and retries once, and an error is thrown as ApiError.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export async function apiResponse(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(init.headers);
    const key = currentKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const answer = await fetch(path, { ...init, headers });
    if (answer.status === 401 && attempt === 0) {
      forgetKey();
      await askForKey("The server refused the stored key. Enter it again.");
      continue;
    }
    if (!answer.ok) {
      let code = `http_${answer.status}`;
      let message = answer.statusText || `request failed (${answer.status})`;
      try {
        const body = await answer.json();
        code = body.error?.code ?? code;
        message = body.error?.message ?? message;
      } catch {
        // Not JSON: the status says enough.
      }
      throw new ApiError(answer.status, code, message);
    }
    return answer;
  }
}

/**
 * Saves what GET `path` answers as a file. Where a key is set, the request carries it in its
 * header and the answer is handed over as a Blob URL: for a download that signed URLs do not
 * cover (an export, whose filters are in its query). Without a key it is a plain link's job.
 * @param {string} path
 * @param {string} fallbackName the file's name when the answer does not give one
 */
export async function download(path, fallbackName) {
  const answer = await apiResponse(path);
  const disposition = answer.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await answer.blob());
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken the Blob by the next turn; a minute is ample all the same.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * @typedef {object} SignedUrl
 * @property {string} url path and query
 * @property {number} expiresAtMs when the server stops accepting it (Infinity without a key)
 */

/** Asked for again this long before it expires, so a URL is never handed out nearly dead. */
const RESIGN_MARGIN_MS = 30_000;

/**
 * A URL for what the browser loads by itself (EventSource, <audio>, downloads), which cannot be
 * given an Authorization header. Where a key is set the server signs the path for a while
 * (POST /api/signed-urls): the key itself never goes into a URL, so neither the history, a
 * copied link nor a server log holds it.
 * @param {string} path
 * @returns {Promise<SignedUrl>}
 */
export async function signedUrl(path) {
  if (!keyRequired()) return { url: path, expiresAtMs: Number.POSITIVE_INFINITY };
  const answer = await api("/api/signed-urls", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path }),
  });
  return { url: answer.url, expiresAtMs: Date.parse(answer.expiresAt) };
}

/** @param {SignedUrl} signed */
export const isFresh = (signed) => Date.now() < signed.expiresAtMs - RESIGN_MARGIN_MS;

/**
 * @typedef {object} Feed
 * @property {Promise<boolean>} opened resolves true once subscribed, false if that failed
 * @property {() => void} close
 */

/** What the server asks EventSource to wait before reconnecting (event-routes.ts RETRY_MS). */
const FEED_RETRY_MS = 3000;

/**
 * Subscribes to an SSE feed. The server subscribes before it answers, so what is loaded after
 * `opened` resolves cannot miss an event; EventSource reconnects by itself after a drop. Its
 * signed URL is checked only when it connects: once it has expired, a reconnect is refused and
 * EventSource gives up, so the feed is opened again with a new URL.
 * @param {string} path
 * @param {Record<string, (data: any) => void>} handlers by event name
 * @param {{ onReconnect?: () => void }} [options]
 * @returns {Feed}
 */
export function openFeed(path, handlers, options = {}) {
  /** @type {EventSource | null} */
  let source = null;
  let closed = false;
  let opens = 0;
  /** @type {(value: boolean) => void} */
  let settle = () => {};
  const opened = /** @type {Promise<boolean>} */ (
    new Promise((resolve) => {
      settle = resolve;
    })
  );

  async function connect() {
    /** @type {SignedUrl} */
    let signed;
    try {
      signed = await signedUrl(path);
    } catch {
      settle(false);
      return;
    }
    if (closed) return;
    const current = new EventSource(signed.url);
    source = current;
    for (const [name, handle] of Object.entries(handlers)) {
      current.addEventListener(name, (event) => {
        handle(JSON.parse(/** @type {MessageEvent} */ (event).data));
      });
    }
    current.addEventListener("open", () => {
      opens++;
      settle(true);
      if (opens > 1) options.onReconnect?.();
    });
    current.addEventListener("error", () => {
      if (opens === 0) settle(false);
      // CONNECTING: EventSource retries by itself. CLOSED: the server refused the reconnect;
      // only an expired URL is worth replacing (a deleted call stays refused).
      if (current.readyState !== EventSource.CLOSED || closed || isFresh(signed)) return;
      setTimeout(() => {
        if (!closed) void connect();
      }, FEED_RETRY_MS);
    });
  }

  void connect();
  return {
    opened,
    close: () => {
      closed = true;
      source?.close();
    },
  };
}

// ---- formatting -----------------------------------------------------------------------------

/** @param {number} seconds */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** @param {number} ms */
export const formatOffset = (ms) => formatDuration(Math.floor(ms / 1000));

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** @param {string} iso */
export const formatDateTime = (iso) => dateTime.format(new Date(iso));

/** @param {number} ms */
export function formatMs(ms) {
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(0)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.round(ms)} ms`;
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const STATUS_LABELS = /** @type {Record<string, string>} */ ({
  active: "Live",
  completed: "Completed",
  failed: "Failed",
});

/** @param {string} status */
export function statusBadge(status) {
  return h("span", { class: `badge badge-${status === "active" ? "live" : status}` }, [
    STATUS_LABELS[status] ?? status,
  ]);
}

/** @param {string} speaker */
export const speakerLabel = (speaker) => (speaker === "assistant" ? "Assistant" : "Caller");

/**
 * The search snippet, with the matched words (between [ and ]) as <mark>.
 * @param {string} snippet
 */
export function markedSnippet(snippet) {
  const fragment = document.createDocumentFragment();
  for (const [i, part] of snippet.split(/\[([^\]]*)\]/).entries()) {
    if (part === "") continue;
    fragment.append(i % 2 === 1 ? h("mark", {}, [part]) : document.createTextNode(part));
  }
  return fragment;
}

// ---- DOM ------------------------------------------------------------------------------------

/**
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attrs
 */

/**
 * Builds an element. Text is always set as text, never parsed as HTML.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {(Node | string | null | undefined | false)[]} [children]
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  for (const child of children) if (child || child === "") el.append(child);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {(Node | string | null | undefined | false)[]} [children]
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, children = []) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  applyAttrs(el, attrs);
  for (const child of children) if (child) el.append(child);
  return el;
}

/**
 * @param {Element} el
 * @param {Attrs} attrs
 */
function applyAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

/**
 * Shows an error in a role=alert element.
 * @param {HTMLElement} el
 * @param {unknown} error
 */
export function showError(el, error) {
  el.textContent = error instanceof Error ? error.message : String(error);
  el.hidden = false;
}
