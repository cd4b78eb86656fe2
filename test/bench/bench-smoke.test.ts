import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../bench/lib/child-server.ts";
import { ensureDataset } from "../../bench/load/big-dataset.ts";
import { RARE_HITS, RARE_WORD } from "../../bench/load/corpus.ts";
import { runPostgresBench } from "../../bench/postgres.ts";
import { defaultSections, renderReport, runSections } from "../../bench/run.ts";

/**
 * The benchmark code works: the quick CLI runs every section and prints a complete report.
 * Only the shape of the figures is checked, never their values: timings on a shared machine
 * prove nothing, and a test must not fail because the machine was busy.
 */

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; kills it (and reports code null) if it is still running after `timeoutMs`. */
function runCli(args: string[], timeoutMs = 150_000, script = "bench/run.ts"): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so a stuck run is killed with the servers it started.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const NUMBER = String.raw`-?[\d,]+(?:\.\d+)?`;

/** The rows of the markdown table that follows the line starting with `header`. */
function tableAfter(markdown: string, header: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) throw new Error(`no table headed ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

describe("the benchmark suite", () => {
  it("prints a quick report with each section's figures, and leaves BENCHMARKS.md alone", async () => {
    const committed = join(REPO_ROOT, "BENCHMARKS.md");
    const before = existsSync(committed) ? statSync(committed).mtimeMs : null;
    // The load section has its own tests and doubles the time; it is checked to be wired below.
    const { code, stdout, stderr } = await runCli(["--quick", "--only", "codec,storage,memory"]);
    expect(existsSync(committed) ? statSync(committed).mtimeMs : null).toBe(before);
    expect(stderr).not.toMatch(/FAILED/);
    expect(code).toBe(0);

    expect(stdout).toMatch(/^# Benchmarks \(quick run\)$/m);
    for (const row of ["Command", "Date", "CPU", "Cores", "RAM", "Kernel", "Node"]) {
      expect(stdout).toMatch(new RegExp(`^\\| ${row} \\| .+ \\|$`, "m"));
    }
    expect(stdout).toMatch(new RegExp(`^\\| Load average .+ before: ${NUMBER}, `, "m"));
    expect(stdout).not.toContain("Section failed");

    const expected = ["codec", "storage", "memory"];
    const summary = tableAfter(stdout, "| section |");
    expect(summary.map((r) => [r[0], r[1]])).toEqual(expected.map((name) => [name, "ok"]));
    for (const title of ["Codec", "Storage", "Memory"]) {
      expect(stdout).toMatch(new RegExp(`^## ${title} \\(\`bench/\\w+\\.ts\`\\)$`, "m"));
    }

    const hotPath = tableAfter(stdout, "| per-call hot path");
    expect(hotPath.length).toBeGreaterThanOrEqual(2);
    for (const row of hotPath) expect(row[1]).toMatch(new RegExp(`^${NUMBER}$`));

    const inserts = tableAfter(stdout, "| insert |");
    expect(inserts.length).toBeGreaterThan(0);
    for (const row of inserts) expect(row[2]).toMatch(new RegExp(`^${NUMBER}$`));

    const memory = tableAfter(stdout, "| point | RSS MiB |");
    expect(memory.map((r) => r[0])).toEqual([
      "server idle, no call",
      "5 calls connected",
      "after 6 s of audio per call",
      "after 30 s of audio per call",
      "after 1 min of audio per call",
      "all calls ended",
      expect.stringMatching(/^peak during the calls/),
    ]);
    for (const row of memory) expect(row[1]).toMatch(new RegExp(`^${NUMBER}$`));
    expect(stdout).toMatch(new RegExp(`^- RSS per active call: ${NUMBER} MiB`, "m"));
    expect(stdout).toMatch(new RegExp(`^- Growth from 6 s to 60 s of audio: ${NUMBER} MiB`, "m"));
    // Not a figure but a correctness property: the paced run must record every frame.
    expect(stdout).toContain("caller 5/5, conversation 5/5; recording overflows 0");
  }, 170_000);

  it("runs codec, storage and memory, then load once bench/load.ts exists, PostgreSQL, then API under load", async () => {
    const names = (await defaultSections("test")).map((s) => s.name);
    const withLoad = existsSync(join(REPO_ROOT, "bench", "load.ts"));
    expect(names).toEqual([
      "codec",
      "storage",
      "memory",
      ...(withLoad ? ["load"] : []),
      "postgres",
      "api-under-load",
    ]);
  });

  it("says how to run the PostgreSQL section when no server is named, rather than failing", async () => {
    const saved = { bench: process.env.BENCH_POSTGRES_URL, test: process.env.TEST_POSTGRES_URL };
    delete process.env.BENCH_POSTGRES_URL;
    delete process.env.TEST_POSTGRES_URL;
    try {
      const markdown = await runPostgresBench({ quick: true, command: "test" });
      expect(markdown).toMatch(/^Not run: set BENCH_POSTGRES_URL \(or TEST_POSTGRES_URL\)/);
    } finally {
      if (saved.bench !== undefined) process.env.BENCH_POSTGRES_URL = saved.bench;
      if (saved.test !== undefined) process.env.TEST_POSTGRES_URL = saved.test;
    }
  });

  it("reports a section that throws and still runs the sections after it", async () => {
    const options = { quick: true, command: "test" };
    const results = await runSections(options, [
      {
        name: "broken",
        title: "Broken",
        source: "bench/broken.ts",
        run: () => Promise.reject(new Error("disk on fire")),
      },
      { name: "fine", title: "Fine", source: "bench/fine.ts", run: async () => "### Fine\n\n42" },
    ]);
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ["broken", false],
      ["fine", true],
    ]);
    const report = renderReport(options, results, {
      date: new Date(0),
      loadBefore: "0.00, 0.00, 0.00",
      loadAfter: "0.00, 0.00, 0.00",
    });
    expect(report).toMatch(/^\| broken \| \*\*failed\*\* \|/m);
    expect(report).toContain("**Section failed:**");
    expect(report).toContain("disk on fire");
    expect(report).toMatch(/^## Fine \(`bench\/fine\.ts`\)\n\n### Fine\n\n42$/m);
  });

  it("refuses an unknown argument instead of running", async () => {
    const { code, stdout, stderr } = await runCli(["--fast"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("unknown argument --fast");
  });
});

describe("the API-under-load bench", () => {
  it("builds its database once, with the real schema and a caught-up full-text index", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "api-load-dataset-"));
    try {
      const params = {
        calls: 300,
        transcripts: 1_500,
        turnsPerCall: 10,
        recordingCalls: 5,
        seed: 1,
      };
      const migrationsFolder = join(REPO_ROOT, "migrations");
      const lines: string[] = [];
      const first = ensureDataset({ dataDir, params, migrationsFolder, log: (l) => lines.push(l) });
      expect(first.reused).toBe(false);
      expect(lines.join("\n")).toMatch(/full-text index: 1,500 of 1,500 transcripts/);
      const second = ensureDataset({ dataDir, params, migrationsFolder, log: () => undefined });
      expect(second.reused).toBe(true);
      expect(second.dbPath).toBe(first.dbPath);
      // Other parameters are another dataset, beside the first.
      const other = ensureDataset({
        dataDir,
        params: { ...params, seed: 2 },
        migrationsFolder,
        log: () => undefined,
      });
      expect(other.reused).toBe(false);
      expect(other.dir).not.toBe(first.dir);

      const { manifest } = first;
      expect(manifest.counts).toMatchObject({
        calls: 300,
        conversations: 150,
        transcripts: 1_500,
        recordings: 10,
      });
      expect(manifest.rareHits).toBe(RARE_HITS);
      const db = new Database(first.dbPath, { readonly: true });
      try {
        const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
        expect(one("SELECT count(*) AS n FROM calls")).toBe(300);
        expect(one("SELECT count(*) AS n FROM transcripts")).toBe(1_500);
        expect(one("SELECT count(*) AS n FROM calls WHERE status = 'active'")).toBe(0);
        // Caught up: nothing is left for the server's indexer, and every row is searchable.
        expect(one("SELECT indexed_through AS n FROM transcripts_fts_progress")).toBe(
          one("SELECT max(seq) AS n FROM transcripts"),
        );
        expect(
          one(
            `SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH '${RARE_WORD}'`,
          ),
        ).toBe(RARE_HITS);
        expect(
          one(
            `SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH '${manifest.commonWord}'`,
          ),
        ).toBe(manifest.commonHits);
        // Every recording row names a real file of its size.
        const rows = db.prepare("SELECT file_key, size_bytes FROM recordings").all() as {
          file_key: string;
          size_bytes: number;
        }[];
        expect(rows).toHaveLength(10);
        for (const row of rows) {
          expect(statSync(join(first.recordingsDir, row.file_key)).size).toBe(row.size_bytes);
        }
      } finally {
        db.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("runs a quick A/B and reports frames, targets and the API client's answers per route", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "api-load-smoke-"));
    try {
      const out = join(dataDir, "report.md");
      const { code, stdout, stderr } = await runCli(
        ["--quick", "--data-dir", dataDir, "--out", out],
        150_000,
        "bench/api-under-load.ts",
      );
      expect(stderr).not.toMatch(/bench failed/);
      expect(code).toBe(0);
      expect(readFileSync(out, "utf8").trim()).toBe(stdout.trim());
      expect(stdout).toMatch(/^### API under load: 10 live calls .+ \(quick\)$/m);
      // Each run's files are removed; the generated database stays, for the next run.
      expect(readdirSync(dataDir).filter((name) => name !== "report.md")).toEqual([
        expect.stringMatching(/^dataset-2000-calls-[0-9a-f]+$/),
      ]);

      // A figure with no sample in a short window is a dash: the shape is checked, not values.
      const FIGURE = `(?:${NUMBER}|–)`;
      const LATENCY = new RegExp(`^${FIGURE} / ${FIGURE} / ${FIGURE}$`);
      const runs = tableAfter(stdout, "| run | condition |");
      expect(runs.map((r) => r[1])).toEqual(["A", "B"]);
      for (const row of runs) {
        // The whole server's CPU, and its main thread's in brackets.
        expect(row[2]).toMatch(new RegExp(`^${NUMBER} \\(${NUMBER}\\)$`));
        expect(row[4]).toMatch(LATENCY);
        expect(row[5]).toMatch(LATENCY);
        expect(row[6]).toMatch(/^\d+ \/ \d+ \([\d,]+\)$/);
      }
      expect(runs[0]![9]).toBe("–");
      expect(runs[1]![9]).toMatch(new RegExp(`^${NUMBER} \\(`));

      const conditions = tableAfter(stdout, "| condition |");
      expect(conditions.map((r) => r[0]!.slice(0, 2))).toEqual(["A:", "B:"]);
      for (const row of conditions) {
        expect(row[1]).toMatch(LATENCY);
        expect(row[5]).toMatch(new RegExp(`^${NUMBER} \\(${NUMBER}\\)$`));
      }

      const deltas = tableAfter(stdout, "| figure |");
      expect(deltas.map((r) => r[0])).toEqual([
        "inbound p99 ms",
        "inbound p99.9 ms",
        "outbound p99 ms",
        "outbound p99.9 ms",
        "frames lost (in + out)",
        "server CPU ms / call-second",
        "main thread's CPU ms / call-second",
      ]);
      for (const row of deltas.slice(0, 4)) {
        expect(row[3]).toMatch(new RegExp(`^(?:[+−]${NUMBER}|–)$`));
        expect(row[5]).toMatch(/^(met|\*\*missed\*\*|–)$/);
      }

      const routes = tableAfter(stdout, "| route |");
      const names = routes.map((r) => r[0]);
      for (const expected of [
        /^search: common word "order"/,
        /^search: rare word "warranty"/,
        /^calls list: newest$/,
        /^calls list: next page \(cursor\)$/,
        /^calls list: status=failed$/,
        /^calls list: since\/until$/,
        /^calls list: caller$/,
        /^call detail$/,
        /^call transcripts$/,
        /^waveform peaks$/,
        /^recording audio, Range 64 KB$/,
      ]) {
        expect(names.some((name) => expected.test(name ?? ""))).toBe(true);
      }
      for (const row of routes) {
        expect(Number(row[1]!.replaceAll(",", ""))).toBeGreaterThan(0);
        // Only the answers each route should get: 206 to a Range request, 200 to the others.
        const ok = row[0]!.startsWith("recording audio") ? "206" : "200";
        expect(row[2]).toMatch(new RegExp(`^${ok} × [\\d,]+$`));
        expect(row[3]).toMatch(new RegExp(`^${NUMBER}$`));
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 170_000);
});
