// What the long tasks of a Chromium trace were made of (the large-vault bench writes one with
// TRACE=<file>). For each task over 50 ms on the page's main thread: its length, the self time of
// the trace events inside it by name (script, style, layout, paint, GC…), and the JS functions
// the V8 sampler saw most in it. Then the same summed over all long tasks.
//
//   node e2e/trace-summary.mjs <trace.json> [threshold ms, default 50]
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) throw new Error("usage: node e2e/trace-summary.mjs <trace.json> [threshold ms]");
const threshold = Number(process.argv[3] ?? 50) * 1000;
const raw = JSON.parse(readFileSync(file, "utf8"));
/** @type {any[]} */
const events = Array.isArray(raw) ? raw : raw.traceEvents;

// The renderer main thread with the most task time: the page's.
const mains = events.filter((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain");
const taskTime = new Map();
for (const e of events) {
  if (e.name === "RunTask" && e.ph === "X") {
    const key = `${e.pid}:${e.tid}`;
    taskTime.set(key, (taskTime.get(key) ?? 0) + e.dur);
  }
}
const main = mains.map((m) => `${m.pid}:${m.tid}`).sort((a, b) => (taskTime.get(b) ?? 0) - (taskTime.get(a) ?? 0))[0];
if (!main) throw new Error("no renderer main thread in the trace");
const onMain = events.filter((e) => `${e.pid}:${e.tid}` === main && e.ph === "X" && typeof e.dur === "number");
onMain.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
const tasks = onMain.filter((e) => e.name === "RunTask" && e.dur > threshold);

// V8 samples: ProfileChunk events of the main thread's profile (same id as its Profile event).
const profile = events.find((e) => e.name === "Profile" && `${e.pid}:${e.tid}` === main);
const nodes = new Map();
const samples = []; // [ts, node id]
for (const e of events) {
  if (e.name !== "ProfileChunk" || e.pid !== profile?.pid || e.id !== profile?.id) continue;
  const chunk = e.args?.data?.cpuProfile ?? {};
  for (const n of chunk.nodes ?? []) nodes.set(n.id, n);
  let ts = e.args?.data?.timeDeltas ? (samples.at(-1)?.[0] ?? 0) : 0;
  const deltas = e.args?.data?.timeDeltas ?? [];
  (chunk.samples ?? []).forEach((id, i) => {
    ts += deltas[i] ?? 0;
    samples.push([ts, id]);
  });
}
const profileStart = profile?.args?.data?.startTime;
if (profileStart !== undefined) for (const s of samples) s[0] += profileStart;
const where = (id) => {
  const frame = nodes.get(id)?.callFrame;
  if (!frame) return "?";
  const url = String(frame.url ?? "")
    .split("/")
    .at(-1);
  return `${frame.functionName || "(anonymous)"} ${url}:${frame.lineNumber ?? ""}`;
};

const add = (map, key, value) => map.set(key, (map.get(key) ?? 0) + value);
const top = (map, n) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${(v / 1000).toFixed(1)} ms ${k}`);
const allSelf = new Map();
const allFunctions = new Map();
for (const task of tasks) {
  const end = task.ts + task.dur;
  const inside = onMain.filter((e) => e !== task && e.ts >= task.ts && e.ts + e.dur <= end);
  // Self time: each event's length less its direct children's.
  const self = new Map();
  const stack = [];
  for (const e of inside) {
    while (stack.length && stack.at(-1).ts + stack.at(-1).dur <= e.ts) stack.pop();
    const parent = stack.at(-1);
    if (parent) add(self, parent.name, -e.dur);
    const label = e.name === "FunctionCall" || e.name === "EvaluateScript" ? `${e.name}` : e.name;
    add(self, label, e.dur);
    e.name = label;
    stack.push(e);
  }
  const functions = new Map();
  const inTask = samples.filter(([ts]) => ts >= task.ts && ts <= end);
  // Each sample stands for the time to the next one.
  inTask.forEach(([ts, id], i) => add(functions, where(id), (inTask[i + 1]?.[0] ?? end) - ts));
  for (const [k, v] of self) add(allSelf, k, v);
  for (const [k, v] of functions) add(allFunctions, k, v);
  console.log(`task ${(task.dur / 1000).toFixed(1)} ms at ${((task.ts - tasks[0].ts) / 1e6).toFixed(2)} s`);
  console.log(`  events: ${top(self, 6).join(" | ")}`);
  console.log(`  functions: ${top(functions, 6).join(" | ")}`);
}
console.log(`\n${tasks.length} tasks over ${threshold / 1000} ms`);
console.log(`events (self):\n  ${top(allSelf, 15).join("\n  ")}`);
console.log(`functions (self, sampled):\n  ${top(allFunctions, 25).join("\n  ")}`);
