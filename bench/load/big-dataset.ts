/**
 * A production-sized database for bench/api-under-load.ts: by default 1,000,000 calls and
 * 5,000,000 transcripts (issue 14's figures: every other call has a conversation of ten turns,
 * the others none), a few thousand recording rows whose files are real WAV files, generated once
 * into a cache folder keyed by its parameters and reused.
 *
 * Built the way the server builds its own file, only faster: the committed migrations through
 * the safe migrator, then prepared-statement inserts in large transactions with the journal off,
 * then the full-text index filled by one catch-up over every transcript, as DeferredFtsIndex
 * does after a start (migration 0002: `transcripts_fts_progress.indexed_through`).
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { migrateDatabase } from "../../src/adapters/sqlite/migrate.ts";
import { wavHeader } from "../../src/domain/audio/index.ts";
import { COMMON_WORD, RARE_HITS, RARE_WORD, ZipfWords } from "./corpus.ts";

/** Bump when the generated content changes, so an old cache is not taken for a new one. */
const DATASET_VERSION = 1;

export interface DatasetParams {
  calls: number;
  /** Transcript rows in all; calls get `turnsPerCall` each, spread evenly, until they run out. */
  transcripts: number;
  turnsPerCall: number;
  /** Calls that get recording rows (a caller and a conversation track each). */
  recordingCalls: number;
  seed: number;
}

export const DEFAULT_DATASET: DatasetParams = {
  calls: 1_000_000,
  transcripts: 5_000_000,
  turnsPerCall: 10,
  recordingCalls: 1_000,
  seed: 14,
};

export interface RecordingEntry {
  id: string;
  callId: string;
  track: "caller" | "conversation";
  sizeBytes: number;
}

/** What the bench and its API client need to know about a dataset without opening it. */
export interface DatasetManifest {
  version: number;
  key: string;
  params: DatasetParams;
  generatedAt: string;
  /** Wall time of the generation: schema, inserts, full-text index, files. */
  generationSeconds: number;
  phaseSeconds: { insert: number; fullTextIndex: number };
  dbBytes: number;
  recordingBytes: number;
  counts: {
    calls: number;
    /** Calls with transcripts. */
    conversations: number;
    transcripts: number;
    recordings: number;
    failedCalls: number;
  };
  commonWord: string;
  /** Transcripts whose text holds the common word (counted while generating). */
  commonHits: number;
  rareWord: string;
  rareHits: number;
  firstStartedAtMs: number;
  lastStartedAtMs: number;
  /**
   * Ids of calls with a conversation, spread evenly over the table (detail and transcript
   * requests pick from them).
   */
  sampleCallIds: string[];
  /** Callers of those calls (each caller has about twenty calls). */
  sampleCallers: string[];
  recordings: RecordingEntry[];
}

export interface Dataset {
  dir: string;
  dbPath: string;
  recordingsDir: string;
  manifest: DatasetManifest;
  /** True when the cache held it already. */
  reused: boolean;
}

const MANIFEST = "manifest.json";
const DB_FILE = "calls.db";
const RECORDINGS = "recordings";
/** The dataset's calls start in the year before this instant (fixed, so a key names one content). */
const END_MS = Date.UTC(2026, 0, 1);
const SPAN_MS = 365 * 24 * 3_600_000;
const CALLS_PER_TRANSACTION = 50_000;
/** Transcripts per statement of the full-text catch-up: only there to print progress. */
const FTS_CHUNK_ROWS = 500_000;
const SAMPLE_CALLS = 1_000;
const FAILED_SHARE = 0.04;
const CALLS_PER_CALLER = 20;
/** Recording lengths, one base file per length and track, hard-linked under every name. */
const RECORDING_SECONDS = [15, 30, 60, 120];
const SAMPLE_RATE = 16_000;

/** A small deterministic generator (mulberry32), so a key always names the same rows. */
class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  readonly float = (): number => this.u32() / 4294967296;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A UUID version 7 as the server makes them (time-ordered: rows are appended at the end of
 * their id index, as in production), with its random bits from the seeded generator.
 */
function uuidV7(ms: number, random: Prng): string {
  const hi = Math.floor(ms / 0x10000);
  const lo = ms % 0x10000;
  const a = random.u32();
  const b = random.u32();
  const c = random.u32();
  return (
    HEX[(hi >>> 24) & 0xff]! +
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    "-" +
    HEX[lo >>> 8]! +
    HEX[lo & 0xff]! +
    "-" +
    HEX[0x70 | (a & 0x0f)]! +
    HEX[(a >>> 8) & 0xff]! +
    "-" +
    HEX[0x80 | ((a >>> 16) & 0x3f)]! +
    HEX[a >>> 24]! +
    "-" +
    HEX[b & 0xff]! +
    HEX[(b >>> 8) & 0xff]! +
    HEX[(b >>> 16) & 0xff]! +
    HEX[b >>> 24]! +
    HEX[c & 0xff]! +
    HEX[(c >>> 8) & 0xff]!
  );
}

/** Twilio-style sids: two letters and 32 hex digits. */
function sid(prefix: string, random: Prng): string {
  let text = prefix;
  for (let i = 0; i < 4; i++) {
    const v = random.u32();
    text += HEX[v & 0xff]! + HEX[(v >>> 8) & 0xff]! + HEX[(v >>> 16) & 0xff]! + HEX[v >>> 24]!;
  }
  return text;
}

/** Every file of the migrations folder, so a new migration makes a new dataset. */
function migrationsDigest(folder: string): string {
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(name).update(readFileSync(path));
    }
  };
  walk(folder);
  return hash.digest("hex");
}

export function datasetKey(params: DatasetParams, migrationsFolder: string): string {
  return createHash("sha256")
    .update(
      JSON.stringify({
        version: DATASET_VERSION,
        // Sorted, so the key does not depend on the order the fields were written in.
        params: Object.fromEntries(Object.entries(params).sort(([x], [y]) => x.localeCompare(y))),
        migrations: migrationsDigest(migrationsFolder),
      }),
    )
    .digest("hex")
    .slice(0, 12);
}

/** The manifest of a complete cached dataset in `dir`, else null. */
function readManifest(dir: string): DatasetManifest | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path) || !existsSync(join(dir, DB_FILE))) return null;
  try {
    const manifest = JSON.parse(readFileSync(path, "utf8")) as DatasetManifest;
    // A database that was opened and written since (it never should be) is not the cached one.
    if (statSync(join(dir, DB_FILE)).size !== manifest.dbBytes) return null;
    return manifest;
  } catch {
    return null;
  }
}

/**
 * A speech-like track: 1.5 s bursts of a gliding tone with a soft envelope, every `periodS`,
 * under low noise, so waveform peaks have something to draw.
 */
function speechLike(samples: Int16Array, stride: number, offset: number, phaseS: number): void {
  const random = new Prng(samples.length + offset);
  const frames = samples.length / stride;
  for (let i = 0; i < frames; i++) {
    const t = i / SAMPLE_RATE;
    const inTurn = (t + phaseS) % 4;
    const envelope = inTurn < 1.5 ? Math.sin((Math.PI * inTurn) / 1.5) : 0;
    const tone = Math.sin(2 * Math.PI * (180 + 40 * Math.sin(t * 3)) * t) * 9000 * envelope;
    const noise = (random.float() - 0.5) * 300;
    samples[i * stride + offset] = Math.round(tone + noise);
  }
}

function writeWav(path: string, seconds: number, channels: 1 | 2): number {
  const frames = seconds * SAMPLE_RATE;
  const samples = new Int16Array(frames * channels);
  speechLike(samples, channels, 0, 0);
  // The assistant answers in the caller's pauses.
  if (channels === 2) speechLike(samples, channels, 1, 2);
  const data = new Uint8Array(samples.buffer);
  writeFileSync(path, Buffer.concat([wavHeader(SAMPLE_RATE, channels, data.length), data]));
  return data.length + 44;
}

const count = (n: number) => n.toLocaleString("en-US");

function generate(
  dir: string,
  key: string,
  params: DatasetParams,
  migrationsFolder: string,
  log: (line: string) => void,
): DatasetManifest {
  const started = performance.now();
  mkdirSync(join(dir, RECORDINGS), { recursive: true });
  const baseDir = join(dir, "base");
  mkdirSync(baseDir, { recursive: true });
  const baseFiles = RECORDING_SECONDS.map((seconds) => {
    const caller = join(baseDir, `${seconds}s-caller.wav`);
    const conversation = join(baseDir, `${seconds}s-conversation.wav`);
    return {
      seconds,
      caller,
      callerBytes: writeWav(caller, seconds, 1),
      conversation,
      conversationBytes: writeWav(conversation, seconds, 2),
    };
  });

  const sqlite = new Database(join(dir, DB_FILE));
  // The real schema, through the migrator the server uses, on the default journal.
  migrateDatabase(sqlite, migrationsFolder);
  // Then a bulk load that nothing else reads: a crash here leaves a folder that is never renamed
  // into the cache, so durability buys nothing. Foreign keys: the rows are consistent by
  // construction, and checking each transcript's call costs a lookup per row.
  sqlite.pragma("journal_mode = OFF");
  sqlite.pragma("synchronous = OFF");
  sqlite.pragma("foreign_keys = OFF");
  sqlite.pragma("cache_size = -262144");
  sqlite.pragma("temp_store = MEMORY");

  const insertCall = sqlite.prepare(
    `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, ended_at,
       duration_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertTranscript = sqlite.prepare(
    `INSERT INTO transcripts (id, call_id, speaker, text, confidence, offset_ms, interrupted,
       created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertRecording = sqlite.prepare(
    `INSERT INTO recordings (id, call_id, track, format, codec, sample_rate, channels,
       size_bytes, duration_seconds, file_key, cloud_url, created_at)
     VALUES (?, ?, ?, 'wav', 'pcm_s16le', ?, ?, ?, ?, ?, NULL, ?)`,
  );

  const random = new Prng(params.seed);
  const words = new ZipfWords();
  const totalTranscripts = params.transcripts;
  const conversations = Math.ceil(totalTranscripts / params.turnsPerCall);
  const rareStride = Math.max(1, Math.floor(totalTranscripts / RARE_HITS));
  const recordingStride = Math.max(
    1,
    Math.floor(params.calls / Math.max(1, params.recordingCalls)),
  );
  const callers = Math.max(10, Math.floor(params.calls / CALLS_PER_CALLER));
  const sampleStride = Math.max(1, Math.floor(params.calls / SAMPLE_CALLS));
  const spacing = SPAN_MS / params.calls;
  const manifest: DatasetManifest = {
    version: DATASET_VERSION,
    key,
    params,
    generatedAt: new Date().toISOString(),
    generationSeconds: 0,
    phaseSeconds: { insert: 0, fullTextIndex: 0 },
    dbBytes: 0,
    recordingBytes: 0,
    counts: { calls: 0, conversations: 0, transcripts: 0, recordings: 0, failedCalls: 0 },
    commonWord: COMMON_WORD,
    commonHits: 0,
    rareWord: RARE_WORD,
    rareHits: 0,
    firstStartedAtMs: 0,
    lastStartedAtMs: 0,
    sampleCallIds: [],
    sampleCallers: [],
    recordings: [],
  };
  const sampleCallers = new Set<string>();
  const commonToken = ` ${COMMON_WORD} `;
  let transcriptIndex = 0;
  let sampleNext = 0;

  const insertCalls = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const startedAt = Math.floor(END_MS - SPAN_MS + i * spacing + random.float() * spacing);
      const recorded = params.recordingCalls > 0 && i % recordingStride === recordingStride - 1;
      const base = recorded ? baseFiles[i % baseFiles.length]! : null;
      const durationS = base ? base.seconds : 30 + Math.floor(random.float() * 270);
      const endedAt = startedAt + durationS * 1000;
      const failed = random.float() < FAILED_SHARE;
      const callId = uuidV7(startedAt, random);
      const streamSid = sid("MZ", random);
      const caller = `+1555${String(Math.floor(random.float() * callers)).padStart(7, "0")}`;
      insertCall.run(
        callId,
        streamSid,
        sid("CA", random),
        caller,
        failed ? "failed" : "completed",
        startedAt,
        endedAt,
        durationS,
        startedAt,
        endedAt,
      );
      manifest.counts.calls++;
      if (failed) manifest.counts.failedCalls++;
      if (i === 0) manifest.firstStartedAtMs = startedAt;
      manifest.lastStartedAtMs = startedAt;
      // Evenly spread: call i has a conversation when the running share crosses an integer.
      const talked =
        Math.floor(((i + 1) * conversations) / params.calls) >
        Math.floor((i * conversations) / params.calls);
      const turns = talked ? Math.min(params.turnsPerCall, totalTranscripts - transcriptIndex) : 0;
      if (turns > 0) manifest.counts.conversations++;
      if (turns > 0 && i >= sampleNext && manifest.sampleCallIds.length < SAMPLE_CALLS) {
        manifest.sampleCallIds.push(callId);
        if (sampleCallers.size < 100) sampleCallers.add(caller);
        sampleNext = i + sampleStride;
      }
      const turnMs = (durationS * 1000) / params.turnsPerCall;
      for (let turn = 0; turn < turns; turn++) {
        const byCaller = turn % 2 === 0;
        let text = words.sentence(random.float);
        if (transcriptIndex % rareStride === rareStride >> 1 && manifest.rareHits < RARE_HITS) {
          text += ` ${RARE_WORD}`;
          manifest.rareHits++;
        }
        if (` ${text} `.includes(commonToken)) manifest.commonHits++;
        const offsetMs = Math.floor(turn * turnMs + random.float() * turnMs * 0.5);
        insertTranscript.run(
          uuidV7(startedAt + offsetMs, random),
          callId,
          byCaller ? "caller" : "assistant",
          text,
          byCaller ? 0.8 + random.float() * 0.2 : null,
          offsetMs,
          !byCaller && random.float() < 0.03 ? 1 : 0,
          startedAt + offsetMs,
        );
        transcriptIndex++;
        manifest.counts.transcripts++;
      }
      if (base) {
        for (const track of ["caller", "conversation"] as const) {
          const fileKey =
            track === "caller"
              ? `${streamSid}_${startedAt}.wav`
              : `${streamSid}_${startedAt}_conversation.wav`;
          const sizeBytes = track === "caller" ? base.callerBytes : base.conversationBytes;
          const id = uuidV7(endedAt, random);
          insertRecording.run(
            id,
            callId,
            track,
            SAMPLE_RATE,
            track === "caller" ? 1 : 2,
            sizeBytes,
            durationS,
            fileKey,
            endedAt,
          );
          // Hard links: thousands of names, four files' worth of disk.
          linkSync(
            track === "caller" ? base.caller : base.conversation,
            join(dir, RECORDINGS, fileKey),
          );
          manifest.recordings.push({ id, callId, track, sizeBytes });
          manifest.counts.recordings++;
        }
      }
    }
  });

  log(
    `dataset: generating ${count(params.calls)} calls, ${count(totalTranscripts)} transcripts in ${dir}`,
  );
  const insertStarted = performance.now();
  const step = Math.max(CALLS_PER_TRANSACTION, Math.floor(params.calls / 10));
  for (let from = 0; from < params.calls; from += CALLS_PER_TRANSACTION) {
    const to = Math.min(params.calls, from + CALLS_PER_TRANSACTION);
    insertCalls(from, to);
    if (to % step < CALLS_PER_TRANSACTION || to === params.calls) {
      const elapsed = (performance.now() - insertStarted) / 1000;
      log(
        `  inserted ${count(to)} calls, ${count(transcriptIndex)} transcripts (${elapsed.toFixed(1)} s, ${count(Math.round(transcriptIndex / elapsed))} transcripts/s)`,
      );
    }
  }
  manifest.phaseSeconds.insert = (performance.now() - insertStarted) / 1000;
  manifest.sampleCallers = [...sampleCallers];

  // The catch-up DeferredFtsIndex runs (every row above indexed_through, then the mark moves
  // to max(seq)), in one transaction, split by seq only to print progress.
  const ftsStarted = performance.now();
  const indexRange = sqlite.prepare(
    `INSERT INTO transcripts_fts(rowid, text)
     SELECT seq, text FROM transcripts WHERE seq > ? AND seq <= ? ORDER BY seq`,
  );
  const advance = sqlite.prepare(
    `UPDATE transcripts_fts_progress
     SET indexed_through = max(indexed_through, coalesce((SELECT max(seq) FROM transcripts), 0))`,
  );
  const bounds = sqlite
    .prepare(
      `SELECT (SELECT indexed_through FROM transcripts_fts_progress) AS low,
              coalesce((SELECT max(seq) FROM transcripts), 0) AS high`,
    )
    .get() as { low: number; high: number };
  sqlite.transaction(() => {
    for (let low = bounds.low; low < bounds.high; low += FTS_CHUNK_ROWS) {
      const high = Math.min(bounds.high, low + FTS_CHUNK_ROWS);
      indexRange.run(low, high);
      const elapsed = (performance.now() - ftsStarted) / 1000;
      log(
        `  full-text index: ${count(high)} of ${count(bounds.high)} transcripts (${elapsed.toFixed(1)} s)`,
      );
    }
    advance.run();
  })();
  manifest.phaseSeconds.fullTextIndex = (performance.now() - ftsStarted) / 1000;
  // The journal mode the server opens it with (it is stored in the file).
  sqlite.pragma("journal_mode = WAL");
  sqlite.close();

  manifest.dbBytes = statSync(join(dir, DB_FILE)).size;
  manifest.recordingBytes = baseFiles.reduce(
    (sum, f) => sum + f.callerBytes + f.conversationBytes,
    0,
  );
  manifest.generationSeconds = (performance.now() - started) / 1000;
  // Written last: its presence marks a complete dataset.
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest)}\n`);
  return manifest;
}

/**
 * The dataset for `params` under `dataDir`, generated when the cache does not hold it. Built in
 * a temporary folder and renamed into place, so an interrupted generation is never reused.
 */
export function ensureDataset(options: {
  dataDir: string;
  params: DatasetParams;
  migrationsFolder: string;
  log: (line: string) => void;
}): Dataset {
  const key = datasetKey(options.params, options.migrationsFolder);
  const dir = join(options.dataDir, `dataset-${options.params.calls}-calls-${key}`);
  const paths = (manifest: DatasetManifest, reused: boolean): Dataset => ({
    dir,
    dbPath: join(dir, DB_FILE),
    recordingsDir: join(dir, RECORDINGS),
    manifest,
    reused,
  });
  const cached = readManifest(dir);
  if (cached) return paths(cached, true);
  rmSync(dir, { recursive: true, force: true });
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  try {
    const manifest = generate(building, key, options.params, options.migrationsFolder, options.log);
    try {
      renameSync(building, dir);
    } catch (error) {
      // Another run built the same dataset meanwhile: keep that one.
      const other = readManifest(dir);
      if (!other) throw error;
      rmSync(building, { recursive: true, force: true });
      return paths(other, true);
    }
    return paths(manifest, false);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
}

/** Hard-links every recording of the dataset into `targetDir` (copies across filesystems). */
export function linkRecordings(dataset: Dataset, targetDir: string): void {
  mkdirSync(targetDir, { recursive: true });
  for (const name of readdirSync(dataset.recordingsDir)) {
    const from = join(dataset.recordingsDir, name);
    try {
      linkSync(from, join(targetDir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
      writeFileSync(join(targetDir, name), readFileSync(from));
    }
  }
}
