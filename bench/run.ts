/**
 * `npm run bench` runs every benchmark section and writes BENCHMARKS.md.
 * `npm run bench -- --quick` runs the short versions (under a minute) and prints the markdown to
 * stdout instead, so a smoke run never overwrites the committed figures.
 * Options: `--out <file>` writes there instead (either mode); `--only codec,memory` runs a subset.
 * Each section is isolated: one that throws is reported in the output and the others still run;
 * the exit code is 1 when any section failed.
 */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { runApiUnderLoadBench } from "./api-under-load.ts";
import { runCodecBench } from "./codec.ts";
import { describeMachine, loadAverage } from "./lib/machine.ts";
import { runMemoryBench } from "./memory.ts";
import { runPostgresBench } from "./postgres.ts";
import { runStorageBench } from "./storage.ts";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(BENCH_DIR, "..");

export interface RunOptions {
  quick: boolean;
  only?: string[];
  /** The command line shown in the report. */
  command: string;
  /** Progress lines (section started/finished); nowhere by default. */
  progress?: (line: string) => void;
  sectionTimeoutMs?: number;
}

export interface Section {
  name: string;
  title: string;
  source: string;
  run: (quick: boolean) => Promise<string>;
}

export interface SectionResult {
  name: string;
  ok: boolean;
  seconds: number;
  markdown: string;
}

type LoadBench = (options: {
  quick: boolean;
  command?: string;
  log?: (line: string) => void;
}) => Promise<string>;

/**
 * A section that hangs is reported as failed after this long, and the run goes on. Generous:
 * they exist to end a stuck run, not to judge speed.
 */
const SECTION_TIMEOUT_MS = { quick: 120_000, full: 45 * 60_000 };

/** bench/load.ts is optional: the suite runs without it, and picks it up once it exists. */
async function loadSection(command: string, log?: (line: string) => void): Promise<Section | null> {
  const file = join(BENCH_DIR, "load.ts");
  if (!existsSync(file)) return null;
  return {
    name: "load",
    title: "Load",
    source: "bench/load.ts",
    run: async (quick) => {
      // A variable specifier, so type-checking does not require the file to exist.
      const specifier = "./load.ts";
      const module = (await import(specifier)) as { runLoadBench?: LoadBench };
      if (typeof module.runLoadBench !== "function") {
        throw new Error("bench/load.ts does not export runLoadBench");
      }
      return module.runLoadBench({ quick, command, ...(log ? { log } : {}) });
    },
  };
}

/**
 * Codec, storage, memory, load when bench/load.ts exists, and API under load, in that order.
 * API under load is the longest: on its first run it generates a 1,000,000-call database (a few
 * minutes, cached for later runs), then runs 100 calls four times.
 */
export async function defaultSections(
  command: string,
  log?: (line: string) => void,
): Promise<Section[]> {
  const list: Section[] = [
    {
      name: "codec",
      title: "Codec",
      source: "bench/codec.ts",
      run: (quick) => runCodecBench({ quick, command }),
    },
    {
      name: "storage",
      title: "Storage",
      source: "bench/storage.ts",
      run: (quick) => runStorageBench({ quick, command }),
    },
    {
      name: "memory",
      title: "Memory",
      source: "bench/memory.ts",
      run: (quick) => runMemoryBench({ quick }),
    },
  ];
  const load = await loadSection(command, log);
  if (load) list.push(load);
  list.push({
    name: "postgres",
    title: "PostgreSQL and object storage",
    source: "bench/postgres.ts",
    run: (quick) => runPostgresBench({ quick, command, ...(log ? { log } : {}) }),
  });
  list.push({
    name: "api-under-load",
    title: "API under load",
    source: "bench/api-under-load.ts",
    run: (quick) => runApiUnderLoadBench({ quick, command, ...(log ? { log } : {}) }),
  });
  return list;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`section did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}

export async function runSections(options: RunOptions, list?: Section[]): Promise<SectionResult[]> {
  const results: SectionResult[] = [];
  const timeoutMs =
    options.sectionTimeoutMs ?? SECTION_TIMEOUT_MS[options.quick ? "quick" : "full"];
  for (const section of list ?? (await defaultSections(options.command, options.progress))) {
    if (options.only && !options.only.includes(section.name)) continue;
    options.progress?.(`bench: ${section.name}...`);
    const started = performance.now();
    let markdown: string;
    let ok = true;
    try {
      markdown = (await withTimeout(section.run(options.quick), timeoutMs)).trim();
    } catch (error) {
      ok = false;
      markdown = [
        `**Section failed:** the benchmark threw before it finished.`,
        "",
        "```",
        describeError(error),
        "```",
      ].join("\n");
    }
    const seconds = (performance.now() - started) / 1000;
    options.progress?.(
      `bench: ${section.name} ${ok ? "done" : "FAILED"} in ${seconds.toFixed(1)} s`,
    );
    results.push({
      name: section.name,
      ok,
      seconds,
      markdown: [`## ${section.title} (\`${section.source}\`)`, "", markdown, ""].join("\n"),
    });
  }
  return results;
}

export function renderReport(
  options: RunOptions,
  results: SectionResult[],
  at: { date: Date; loadBefore: string; loadAfter: string },
): string {
  const machine = describeMachine();
  const lines = [
    `# Benchmarks${options.quick ? " (quick run)" : ""}`,
    "",
    "Generated by `bench/run.ts`; do not edit by hand. Regenerate with `npm run bench` (about " +
      "twenty minutes, the load section running the reference forwarder alternately with the server; the first run also generates the API-under-load section's database of " +
      "1,000,000 calls, a few minutes more and about 2 GB, cached in the OS temp folder; run " +
      "that section alone with `npx tsx bench/api-under-load.ts`, options in the file). " +
      "`npm run bench -- --quick` runs short versions of every section and prints them to " +
      "stdout instead of overwriting this file.",
    "",
    "| | |",
    "|---|---|",
    `| Command | \`${options.command}\` |`,
    `| Date | ${at.date.toISOString()} |`,
    `| CPU | ${machine.cpu} |`,
    `| Cores | ${machine.cores} logical |`,
    `| RAM | ${machine.ramGiB.toFixed(1)} GiB |`,
    `| Kernel | Linux ${machine.kernel} |`,
    `| Node | ${machine.node} |`,
    `| Load average (1, 5, 15 min) | before: ${at.loadBefore}; after: ${at.loadAfter} |`,
    "",
    `A load average above the core count (${machine.cores}) means other work shared the CPUs ` +
      "during the run, and timings are pessimistic by roughly that factor.",
    "",
    "| section | result | wall time |",
    "|---|---|---:|",
    ...results.map(
      (r) => `| ${r.name} | ${r.ok ? "ok" : "**failed**"} | ${r.seconds.toFixed(1)} s |`,
    ),
    "",
    ...results.map((r) => r.markdown),
  ];
  return `${lines.join("\n").trimEnd()}\n`;
}

interface CliArgs {
  quick: boolean;
  out: string | null;
  only: string[] | undefined;
}

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { quick: false, out: null, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--quick") args.quick = true;
    else if (arg === "--out") args.out = value();
    else if (arg.startsWith("--out=")) args.out = arg.slice("--out=".length);
    else if (arg === "--only") args.only = value().split(",");
    else if (arg.startsWith("--only=")) args.only = arg.slice("--only=".length).split(",");
    else throw new Error(`unknown argument ${arg} (known: --quick, --out <file>, --only <list>)`);
  }
  return args;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const viaNpm = process.env.npm_lifecycle_event === "bench";
  const shown = argv.join(" ");
  const command = viaNpm
    ? `npm run bench${shown ? ` -- ${shown}` : ""}`
    : `npx tsx bench/run.ts${shown ? ` ${shown}` : ""}`;
  const options: RunOptions = {
    quick: args.quick,
    only: args.only,
    command,
    progress: (line) => process.stderr.write(`${line}\n`),
  };
  const date = new Date();
  const loadBefore = loadAverage();
  const results = await runSections(options);
  const report = renderReport(options, results, { date, loadBefore, loadAfter: loadAverage() });
  const out = args.out ?? (args.quick ? null : join(REPO_ROOT, "BENCHMARKS.md"));
  if (out === null) {
    await new Promise<void>((resolve) => process.stdout.write(report, () => resolve()));
  } else {
    writeFileSync(out, report);
    process.stderr.write(`bench: wrote ${out}\n`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Exits explicitly: a section that timed out may still hold sockets or timers open.
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench: ${describeError(error)}\n`);
      process.exit(2);
    },
  );
}
