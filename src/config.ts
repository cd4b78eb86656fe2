import { z } from "zod";
import type { JsonObject } from "./domain/analytics.ts";
import { DEFAULT_OUTCOMES } from "./domain/call-review.ts";
import { DEFAULT_PRICES, type PriceTable, withPriceOverrides } from "./domain/cost.ts";

const DEFAULT_INSTRUCTIONS =
  "You are a helpful, concise phone assistant. Speak naturally and keep answers short.";

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === "" ? undefined : v))
  .optional();

const integerFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const urlWith = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a ${protocols.join(" or ")} URL`,
    );

const price = z.number().finite().min(0);
/** OPENAI_PRICES: entries by model name, each naming the prices it changes. */
const PriceOverrides = z.record(
  z.string().min(1),
  z.strictObject({
    audioIn: price.optional(),
    cachedAudioIn: price.optional(),
    audioOut: price.optional(),
    textIn: price.optional(),
    cachedTextIn: price.optional(),
    textOut: price.optional(),
    perMinute: price.optional(),
  }),
);

const PRICES_HINT =
  'must be a JSON object of model names to prices in USD, e.g. {"gpt-realtime":{"audioIn":32}} ' +
  "(audioIn, cachedAudioIn, audioOut, textIn, cachedTextIn, textOut per 1M tokens; perMinute)";

const priceOverrides = z.string().transform((text, ctx) => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: PRICES_HINT });
    return z.NEVER;
  }
  const parsed = PriceOverrides.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` (${issue.path.join(".")}: ${issue.message})` : "";
    ctx.addIssue({ code: "custom", message: `${PRICES_HINT}${where}` });
    return z.NEVER;
  }
  return parsed.data;
});

/** The `model` query parameter of the Realtime URL: the model whose prices apply. */
function realtimeModelOf(url: string): string | null {
  try {
    return new URL(url).searchParams.get("model");
  } catch {
    return null;
  }
}

const OUTCOME = /^[a-z0-9_]{1,40}$/;
const MAX_OUTCOMES = 20;

/** ANALYSIS_OUTCOMES: a comma list; a trailing comma or spaces around names are forgiven. */
const outcomeList = z.string().transform((text, ctx) => {
  const outcomes = text
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const bad = outcomes.find((name) => !OUTCOME.test(name));
  const twice = outcomes.find((name, i) => outcomes.indexOf(name) !== i);
  let message: string | null = null;
  if (bad !== undefined) {
    message = `must be a comma-separated list of outcomes of a-z, 0-9 and _ (1-40 characters each): ${JSON.stringify(bad.slice(0, 50))} is not one`;
  } else if (outcomes.length === 0 || outcomes.length > MAX_OUTCOMES) {
    message = `must name between 1 and ${MAX_OUTCOMES} outcomes (it names ${outcomes.length})`;
  } else if (twice !== undefined) {
    message = `names ${twice} twice`;
  }
  if (message !== null) {
    ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  }
  return outcomes;
});

const MAX_FIELDS_BYTES = 8 * 1024;
const FIELDS_HINT =
  'must be a JSON schema object such as {"type":"object","properties":{"order_number":{"type":"string"}}}';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * ANALYSIS_FIELDS: the operator's structured fields, a JSON schema of an object. Checked here
 * only for its shape; what strict structured outputs cannot express is refused when the
 * analyzer is built, at start.
 */
const fieldsSchema = z.string().transform((text, ctx): JsonObject => {
  const fail = (message: string) => {
    ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  };
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_FIELDS_BYTES)
    return fail(`must be at most ${MAX_FIELDS_BYTES} bytes (it is ${bytes})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail(`is not valid JSON: it ${FIELDS_HINT}`);
  }
  if (!isPlainObject(json)) return fail(FIELDS_HINT);
  if (json.type !== undefined && json.type !== "object") {
    return fail(`must describe an object ("type":"object"), not ${JSON.stringify(json.type)}`);
  }
  const properties = json.properties;
  if (!isPlainObject(properties) || Object.keys(properties).length === 0) {
    return fail(`must have "properties" naming at least one field: it ${FIELDS_HINT}`);
  }
  const notSchema = Object.keys(properties).find((name) => !isPlainObject(properties[name]));
  if (notSchema !== undefined) {
    return fail(
      `property ${JSON.stringify(notSchema)} must be a schema object such as {"type":"string"}`,
    );
  }
  return json as JsonObject;
});

const S3_URL_HINT =
  "must be s3://bucket or s3://bucket/prefix (bucket: 3-63 lowercase letters, digits, dots and hyphens)";
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/some/prefix/` → bucket and `some/prefix`; null for anything else. */
function parseS3Url(value: string): { bucket: string; prefix: string } | null {
  const match = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/i.exec(value);
  if (match === null) return null;
  const bucket = match[1] ?? "";
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (!S3_BUCKET.test(bucket) || bucket.includes("..")) return null;
  const segments = prefix === "" ? [] : prefix.split("/");
  if (segments.some((part) => part === "" || part === "." || part === "..")) return null;
  return { bucket, prefix };
}

const ConfigSchema = z.object({
  PORT: integerFrom(0, 65_535).default(3000),
  HOST: z.string().trim().min(1).default("0.0.0.0"),
  DATABASE_URL: z.string().trim().min(1).default("./data/calls.db"),
  RECORDING_STORAGE_PATH: z.string().trim().min(1).default("./recordings"),
  // Object storage for recordings (src/composition/recording-storage.ts); unset = the folder only.
  RECORDING_STORAGE_URL: z
    .string()
    .trim()
    .transform((value, ctx) => {
      const location = parseS3Url(value);
      if (location === null) ctx.addIssue({ code: "custom", message: S3_URL_HINT });
      return location ?? z.NEVER;
    })
    .optional(),
  S3_FORCE_PATH_STYLE: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["1", "0", "true", "false"], { message: "must be true or false" }))
    .transform((v) => v === "1" || v === "true")
    .default(false),
  S3_PRESIGNED_DOWNLOADS: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["1", "0", "true", "false"], { message: "must be true or false" }))
    .transform((v) => v === "1" || v === "true")
    .default(false),
  OPENAI_API_KEY: optionalString,
  OPENAI_REALTIME_URL: urlWith(["wss:", "ws:"]).default(
    "wss://api.openai.com/v1/realtime?model=gpt-realtime",
  ),
  OPENAI_VOICE: z.string().trim().min(1).default("alloy"),
  OPENAI_AUDIO_FORMAT: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["pcm16", "pcmu"], { message: "must be pcm16 or pcmu" }))
    .default("pcm16"),
  ASSISTANT_INSTRUCTIONS: z.string().min(1).default(DEFAULT_INSTRUCTIONS),
  // The assistant's end_call tool: on, it may hang up once it has said goodbye.
  ASSISTANT_HANG_UP: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["on", "off"], { message: "must be on or off" }))
    .default("on"),
  OPENAI_PRICES: priceOverrides.optional(),
  PUBLIC_BASE_URL: urlWith(["https:", "http:"]).optional(),
  TWILIO_AUTH_TOKEN: optionalString,
  API_KEY: optionalString,
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  RECORDING_RETENTION_DAYS: integerFrom(1, 36_500).optional(),
  MAX_CALL_SECONDS: integerFrom(1, 86_400).default(3600),
  MODEL_DRAIN_SECONDS: integerFrom(0, 30).default(3),
  ANALYTICS_INTERVAL_SECONDS: integerFrom(1, 3600).default(15),
  MAX_BODY_BYTES: integerFrom(1024, 100 * 1024 * 1024).default(1024 * 1024),
  TWILIO_MAX_BODY_BYTES: integerFrom(1024, 1024 * 1024).default(64 * 1024),
  MEDIA_STREAM_START_TIMEOUT_SECONDS: integerFrom(1, 600).default(10),
  MAX_MEDIA_STREAMS: integerFrom(1, 100_000).default(1000),
  TRUST_PROXY: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["1", "0", "true", "false"], { message: "must be 1 or 0 (true or false)" }))
    .transform((v) => v === "1" || v === "true")
    .default(false),
  DATABASE_READER_THREADS: integerFrom(0, 8).default(1),
  DATABASE_POOL_SIZE: integerFrom(1, 1000).default(10),
  MIGRATIONS_PATH: z.string().trim().min(1).default("./migrations"),
  // Names this process in the calls it owns; a restart with the same id recovers what it left.
  INSTANCE_ID: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '.', '_' or '-'")
    // It names a folder inside the recordings folder: "." and ".." would name that folder or its parent.
    .refine((id) => !/^\.+$/.test(id), "must not be only dots")
    .optional(),
  INSTANCE_LEASE_SECONDS: integerFrom(2, 600).default(15),
  WORKERS: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(auto|\d+)$/, "must be auto or an integer between 1 and 256")
    .transform((v) => (v === "auto" ? ("auto" as const) : Number(v)))
    .pipe(z.union([z.literal("auto"), z.number().int().min(1).max(256)]))
    .default(1),
  CALL_LANGUAGE: z
    .string()
    .trim()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "must be a language tag such as en or en-US")
    .optional(),
  POST_CALL_ANALYSIS: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["on", "off"], { message: "must be on or off" }))
    .default("on"),
  ANALYSIS_MODEL: z
    .string()
    .trim()
    .regex(/^\S{1,128}$/, "must be a model name (no spaces), such as gpt-4.1-mini")
    .default("gpt-4.1-mini"),
  // The REST API's base (the Responses API for post-call analysis); the Realtime URL is apart.
  OPENAI_BASE_URL: urlWith(["https:", "http:"])
    // `/v1` is the version the client adds: a base given with it (as the SDKs take it) is the same.
    .transform((url) => url.replace(/\/+$/, "").replace(/\/v1$/, ""))
    .default("https://api.openai.com"),
  ANALYSIS_OUTCOMES: outcomeList.default(() => [...DEFAULT_OUTCOMES]),
  ANALYSIS_FIELDS: fieldsSchema.optional(),
});

/** Where calls are stored: DATABASE_URL `postgres://` or `postgresql://` is PostgreSQL, anything else SQLite. */
export type DatabaseConfig =
  | {
      readonly kind: "sqlite";
      /** Path of the SQLite file, without any `file:` prefix. */
      readonly path: string;
    }
  | {
      readonly kind: "postgres";
      /** The connection URL, password included: log `describeDatabase(...)` instead. */
      readonly url: string;
      readonly poolSize: number;
    };

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly database: DatabaseConfig;
  /**
   * The SQLite file's path (`database.path`); on PostgreSQL, the URL with its password masked,
   * for messages only. Code that opens the database branches on `database.kind`.
   */
  readonly databasePath: string;
  readonly recordingStoragePath: string;
  /**
   * RECORDING_STORAGE_URL: finished files go to this bucket and prefix, and leave the folder
   * (which stays the spool); undefined = the folder is where they stay.
   */
  readonly recordingArchive:
    | {
        readonly bucket: string;
        readonly prefix: string;
        readonly forcePathStyle: boolean;
        readonly presignedDownloads: boolean;
      }
    | undefined;
  /** SQLite's migrations folder; PostgreSQL's is its `postgres` subfolder. */
  readonly migrationsPath: string;
  readonly openai: {
    readonly apiKey: string | undefined;
    readonly realtimeUrl: string;
    readonly voice: string;
    readonly instructions: string;
    /**
     * What the model hears and says: PCM16 at 24 kHz (resampled from and to the phone's 8 kHz)
     * or G.711 mu-law at 8 kHz, the phone's own audio passed through both ways.
     */
    readonly audioFormat: "pcm16" | "pcmu";
    /**
     * ASSISTANT_HANG_UP: the session gives the model an end_call tool, and a call it hangs up ends
     * once its last words have played (endReason `assistant_ended`).
     */
    readonly assistantHangUp: boolean;
    /** The Realtime URL's `model=`, whose prices apply (null when it names none). */
    readonly realtimeModel: string | null;
    /** List prices by model (DEFAULT_PRICES with OPENAI_PRICES applied), for cost estimates. */
    readonly prices: PriceTable;
    /** OPENAI_BASE_URL without a trailing slash or `/v1`: REST requests go to `${baseUrl}/v1/...`. */
    readonly baseUrl: string;
  };
  /** Post-call analysis by the model (the Responses API). */
  readonly analysis: {
    /** POST_CALL_ANALYSIS is on and OPENAI_API_KEY is set: without a key nothing is asked. */
    readonly enabled: boolean;
    /** ANALYSIS_MODEL */
    readonly model: string;
    /** ANALYSIS_OUTCOMES: what a call's outcome may be. */
    readonly outcomes: readonly string[];
    /** ANALYSIS_FIELDS: the operator's structured fields as a JSON schema; null when none. */
    readonly fields: JsonObject | null;
  };
  readonly publicBaseUrl: string | undefined;
  /**
   * Whether X-Forwarded-Host / X-Forwarded-Proto describe the public URL (a proxy we run sets
   * them); otherwise any client could choose the URL signatures are checked against.
   */
  readonly trustProxy: boolean;
  readonly twilioAuthToken: string | undefined;
  /** Twilio's webhooks are a few KB: a far smaller limit than the API's on /twilio/*. */
  readonly twilioMaxBodyBytes: number;
  /** A media stream that sends no `start` within this is closed (1008). */
  readonly mediaStreamStartTimeoutMs: number;
  /** Media streams open at once beyond this are closed at once (1013). */
  readonly maxMediaStreams: number;
  readonly apiKey: string | undefined;
  readonly logLevel: string;
  readonly recordingRetentionDays: number | undefined;
  readonly maxCallSeconds: number;
  /** Longest wait, after a call ended, for the model's last transcripts and answer. */
  readonly modelDrainMs: number;
  readonly analyticsIntervalSeconds: number;
  readonly maxBodyBytes: number;
  /** Read-only SQLite connections on their own threads for the API (0: the writer reads too). */
  readonly databaseReaderThreads: number;
  /** BCP 47 tag stored as every call's language, when set. */
  readonly language: string | undefined;
  /**
   * INSTANCE_ID: this process's name in the calls it owns. Unset: derived from the host name and
   * the recordings folder (see resolveInstanceId), so that a restart recovers what the previous
   * process left.
   */
  readonly instanceId: string | undefined;
  /**
   * How long a live call's owner may go silent before another instance marks the call failed;
   * the owner renews every third of it.
   */
  readonly instanceLeaseMs: number;
  /** WORKERS: processes sharing the port on this machine ("auto": one per core). */
  readonly workers: number | "auto";
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Empty strings count as unset, as a shell `VAR=` usually means "no value". */
function withoutEmpty(env: Env): Env {
  const out: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== "") out[key] = value;
  }
  return out;
}

export function loadConfig(env: Env = process.env): Config {
  const parsed = ConfigSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? "configuration");
    throw new ConfigError(variable, issue?.message ?? "is invalid");
  }
  const c = parsed.data;
  const database = databaseFrom(c.DATABASE_URL, c.DATABASE_POOL_SIZE);
  return Object.freeze({
    port: c.PORT,
    host: c.HOST,
    database,
    databasePath: database.kind === "sqlite" ? database.path : describeDatabase(database),
    recordingStoragePath: c.RECORDING_STORAGE_PATH,
    recordingArchive:
      c.RECORDING_STORAGE_URL === undefined
        ? undefined
        : Object.freeze({
            ...c.RECORDING_STORAGE_URL,
            forcePathStyle: c.S3_FORCE_PATH_STYLE,
            presignedDownloads: c.S3_PRESIGNED_DOWNLOADS,
          }),
    migrationsPath: c.MIGRATIONS_PATH,
    openai: Object.freeze({
      apiKey: c.OPENAI_API_KEY,
      realtimeUrl: c.OPENAI_REALTIME_URL,
      voice: c.OPENAI_VOICE,
      instructions: c.ASSISTANT_INSTRUCTIONS,
      audioFormat: c.OPENAI_AUDIO_FORMAT,
      assistantHangUp: c.ASSISTANT_HANG_UP === "on",
      realtimeModel: realtimeModelOf(c.OPENAI_REALTIME_URL),
      prices: Object.freeze(withPriceOverrides(DEFAULT_PRICES, c.OPENAI_PRICES ?? {})),
      baseUrl: c.OPENAI_BASE_URL,
    }),
    analysis: Object.freeze({
      enabled: c.POST_CALL_ANALYSIS === "on" && c.OPENAI_API_KEY !== undefined,
      model: c.ANALYSIS_MODEL,
      outcomes: Object.freeze([...c.ANALYSIS_OUTCOMES]),
      fields: c.ANALYSIS_FIELDS ?? null,
    }),
    publicBaseUrl: c.PUBLIC_BASE_URL?.replace(/\/+$/, ""),
    trustProxy: c.TRUST_PROXY,
    twilioAuthToken: c.TWILIO_AUTH_TOKEN,
    twilioMaxBodyBytes: c.TWILIO_MAX_BODY_BYTES,
    mediaStreamStartTimeoutMs: c.MEDIA_STREAM_START_TIMEOUT_SECONDS * 1000,
    maxMediaStreams: c.MAX_MEDIA_STREAMS,
    apiKey: c.API_KEY,
    logLevel: c.LOG_LEVEL,
    recordingRetentionDays: c.RECORDING_RETENTION_DAYS,
    maxCallSeconds: c.MAX_CALL_SECONDS,
    modelDrainMs: c.MODEL_DRAIN_SECONDS * 1000,
    analyticsIntervalSeconds: c.ANALYTICS_INTERVAL_SECONDS,
    maxBodyBytes: c.MAX_BODY_BYTES,
    databaseReaderThreads: c.DATABASE_READER_THREADS,
    language: c.CALL_LANGUAGE,
    instanceId: c.INSTANCE_ID,
    instanceLeaseMs: c.INSTANCE_LEASE_SECONDS * 1000,
    workers: c.WORKERS,
  });
}

const POSTGRES_SCHEME = /^postgres(ql)?:/i;

/** Never echoes the URL: it may hold a password. */
function databaseFrom(value: string, poolSize: number): DatabaseConfig {
  if (!POSTGRES_SCHEME.test(value)) return { kind: "sqlite", path: value.replace(/^file:/, "") };
  const invalid = new ConfigError(
    "DATABASE_URL",
    "is not a valid PostgreSQL URL: expected postgres://user:password@host:5432/database " +
      "(percent-encode any of : / @ # ? % in the user name or password)",
  );
  if (!/^postgres(ql)?:\/\//i.test(value)) throw invalid;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid;
  }
  // A PostgreSQL URL has no fragment: a `#` is an unencoded one in a password.
  if (url.hash !== "") throw invalid;
  if (url.pathname.replace(/^\//, "") === "") {
    throw new ConfigError(
      "DATABASE_URL",
      "must name a database: expected postgres://user:password@host:5432/database",
    );
  }
  return { kind: "postgres", url: value, poolSize };
}

/** Where the database is, fit for a log line: a PostgreSQL URL's password is masked. */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.kind === "sqlite") return database.path;
  return maskUrlPassword(database.url);
}

export function maskUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== "") url.password = "***";
    for (const key of [...url.searchParams.keys()]) {
      if (key.toLowerCase() === "password") url.searchParams.set(key, "***");
    }
    return url.toString();
  } catch {
    // Unparsable: nothing in it can be told apart from a password.
    return "[unparsable URL]";
  }
}
