import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../bench/lib/child-server.ts";
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
function runCli(args: string[], timeoutMs = 150_000): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], {
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

  it("runs codec, storage and memory, then load once bench/load.ts exists", async () => {
    const names = (await defaultSections("test")).map((s) => s.name);
    const withLoad = existsSync(join(REPO_ROOT, "bench", "load.ts"));
    expect(names).toEqual(["codec", "storage", "memory", ...(withLoad ? ["load"] : [])]);
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
