/**
 * Sums a V8 .cpuprofile (from `node --cpu-prof`) by function and by file or package: self time
 * (where the CPU was) and inclusive time of our own functions (what they cost with callees).
 *
 *   npx tsx bench/load/profile-summary.ts server.cpuprofile [--top 30]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** A readable place: repo-relative source, `pkg` for a dependency, or node's own module. */
function place(url: string): string {
  if (url === "") return "";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    const pkg = rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
    return `${pkg}/${rest.slice(pkg.includes("/") ? 2 : 1).join("/")}`;
  }
  const src = url.search(/\/(src|bench|test)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, "");
}

/** The bucket a file belongs to: our layer folder, a package, or node internals. */
function group(url: string): string {
  if (url === "") return "(native / V8)";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const src = url.search(/\/src\//);
  if (src >= 0) return url.slice(src + 1);
  return url;
}

function keyOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  if (SPECIAL.has(name) || url === "") return name;
  return `${name} — ${place(url)}:${lineNumber + 1}`;
}

export interface ProfileTotals {
  totalMs: number;
  idleMs: number;
  bySelf: [string, number][];
  byGroup: [string, number][];
  inclusiveOwn: [string, number][];
}

export function analyzeProfile(profile: CpuProfile): ProfileTotals {
  const nodes = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    nodes.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfByNode = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: charge it to the sample it precedes.
    const us = Math.max(0, profile.timeDeltas[i] ?? 0);
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + us);
    totalUs += us;
  }
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfByNode) {
    const node = nodes.get(id)!;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + us);
    if (key === "(idle)") idleUs += us;
    const g = SPECIAL.has(key) ? key : group(node.callFrame.url);
    groups.set(g, (groups.get(g) ?? 0) + us);
    // Inclusive time of our own code: each distinct function on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at)!;
      if (!/\/src\//.test(frame.callFrame.url)) continue;
      const k = keyOf(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([k, us]) => [k, us / 1000] as [string, number])
      .sort((a, b) => b[1] - a[1]);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    bySelf: sorted(self),
    byGroup: sorted(groups),
    inclusiveOwn: sorted(inclusive),
  };
}

export function summarizeProfile(path: string, top = 30): string {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const t = analyzeProfile(profile);
  const busy = t.totalMs - t.idleMs;
  const share = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`;
  const rows = (list: [string, number][], n: number) =>
    list
      .filter(([k]) => k !== "(idle)")
      .slice(0, n)
      .map(([k, ms]) => `| ${ms.toFixed(0)} | ${share(ms)} | ${k.replaceAll("|", "\\|")} |`);
  return [
    `#### Profile: ${(t.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (not idle)`,
    "",
    "Self time by function (percent of busy time):",
    "",
    "| self ms | share | function — place |",
    "|---:|---:|---|",
    ...rows(t.bySelf, top),
    "",
    "Self time by package or source file:",
    "",
    "| self ms | share | package / file |",
    "|---:|---:|---|",
    ...rows(t.byGroup, 25),
    "",
    "Inclusive time of the server's own functions (with everything they call):",
    "",
    "| incl. ms | share | function — place |",
    "|---:|---:|---|",
    ...rows(t.inclusiveOwn, 25),
    "",
  ].join("\n");
}

if (process.argv[1]?.endsWith("profile-summary.ts")) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write(
      "usage: npx tsx bench/load/profile-summary.ts FILE.cpuprofile [--top N]\n",
    );
    process.exit(2);
  }
  const topAt = process.argv.indexOf("--top");
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 30;
  process.stdout.write(`${summarizeProfile(path, top)}\n`);
}
