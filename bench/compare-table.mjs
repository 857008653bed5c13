// Reads the JSON lines hub-vs-peerjs.sh collected (each with "side" and "name" added) and
// prints one table: metric | ours | peer | ratio (ours / peer). ↑ = higher is better,
// ↓ = lower is better. Usage: node compare-table.mjs results.jsonl
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node compare-table.mjs results.jsonl");
  process.exit(2);
}
const results = {};
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  results[`${r.side}.${r.name}`] = r;
}
const get = (side, name, path) => {
  let v = results[`${side}.${name}`];
  for (const key of path.split(".")) v = v == null ? undefined : v[key];
  return v;
};
const relayStep = (side) => {
  const r = results[`${side}.relay`];
  if (!r) return undefined;
  const passed = r.steps.filter((s) => s.passed).sort((a, b) => a.rate - b.rate);
  return passed.length ? passed[passed.length - 1] : undefined;
};
const maxLoadgen = (side) => {
  const r = results[`${side}.relay`];
  if (!r) return undefined;
  return Math.max(...[r.fixed_rate, ...r.steps].filter(Boolean).map((s) => s.loadgen_cpu_fraction)) * 100;
};
const maxOther = (side) => {
  const vals = Object.values(results)
    .filter((r) => r.side === side)
    .flatMap((r) => [r.other_load_cores, r.max_other_load_cores])
    .filter((v) => typeof v === "number");
  return vals.length ? Math.max(...vals) : undefined;
};
const rate = (name, key) => get("peer", name, key) ?? get("ours", name, key);

const rows = [
  ["PeerJS protocol probe", (s) => { const ok = get(s, "probe", "ok"); return ok === undefined ? undefined : ok ? "pass" : "FAIL"; }, null],
  [`idle: clients held (fd cap ${rate("idle", "fd_cap_per_process") ?? "?"}/process)`, (s) => get(s, "idle", "conns_open"), "↑"],
  ["idle: server RSS per idle client, KB", (s) => div(get(s, "idle", "bytes_per_conn"), 1000), "↓"],
  ["idle: marginal RSS per client (2nd half), KB", (s) => div(get(s, "idle", "marginal_bytes_per_conn"), 1000), "↓"],
  [`connect-storm ${rate("storm", "rate") ?? "?"}/s: time-to-OPEN p50, ms`, (s) => get(s, "storm", "time_to_open.p50_ms"), "↓"],
  [`connect-storm ${rate("storm", "rate") ?? "?"}/s: time-to-OPEN p99, ms`, (s) => get(s, "storm", "time_to_open.p99_ms"), "↓"],
  ["connect-storm: server CPU per handshake, µs", (s) => get(s, "storm", "server_cpu_us_per_handshake"), "↓"],
  [`connect-storm ${rate("storm-max", "rate") ?? "?"}/s offered: handshakes/s`, (s) => get(s, "storm-max", "handshakes_per_sec"), "↑"],
  [`connect-storm ${rate("storm-max", "rate") ?? "?"}/s offered: time-to-OPEN p99, ms`, (s) => get(s, "storm-max", "time_to_open.p99_ms"), "↓"],
  [`negotiation ${rate("negotiation", "rate") ?? "?"} pairs/s: completed`, (s) => get(s, "negotiation", "completed"), "↑"],
  ["negotiation: latency p50, ms", (s) => get(s, "negotiation", "latency.p50_ms"), "↓"],
  ["negotiation: latency p99, ms", (s) => get(s, "negotiation", "latency.p99_ms"), "↓"],
  ["negotiation: server CPU per negotiation (10 msgs), µs", (s) => get(s, "negotiation", "server_cpu_us_per_negotiation"), "↓"],
  [`relay: max msg/s with p99 < ${rate("relay", "p99_limit_ms") ?? 50} ms`, (s) => {
    const v = get(s, "relay", "max_rate_p99_ok");
    const lim = get(s, "relay", "limited_by");
    return v === undefined ? undefined : lim && lim !== "server" ? `≥${v} (${lim})` : v ?? 0;
  }, "↑"],
  ["relay: p99 at that rate, ms", (s) => relayStep(s)?.latency.p99_ms, "↓"],
  ["relay: server cores used at that rate", (s) => relayStep(s)?.server_cpu_cores, null],
  ["relay: projected msg/s on one full server core", (s) => get(s, "relay", "projected_one_core_rate"), "↑"],
  [`relay: server CPU per message at ${rate("relay", "fixed_rate.rate") ?? "?"} msg/s, µs`, (s) => get(s, "relay", "server_cpu_us_per_msg"), "↓"],
  [`relay: p99 at ${rate("relay", "fixed_rate.rate") ?? "?"} msg/s, ms`, (s) => get(s, "relay", "fixed_rate.latency.p99_ms"), "↓"],
  ["relay: load generator, max % of its core (≥90: it limits)", (s) => maxLoadgen(s), null],
  ["other processes on the machine, max cores (want ~0)", (s) => maxOther(s), null],
];

function div(v, d) {
  return typeof v === "number" ? v / d : undefined;
}
function fmt(v) {
  if (v === undefined || v === null) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v) && Math.abs(v) >= 100) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
function leading(v) {
  if (typeof v === "number") return v;
  const m = typeof v === "string" && v.match(/^≥?([\d.]+)/);
  return m ? Number(m[1]) : undefined;
}

const table = [["metric", "ours", "peer", "ratio"]];
for (const [label, f, dir] of rows) {
  const ours = f("ours");
  const peer = f("peer");
  const a = leading(ours);
  const b = leading(peer);
  const ratio = a !== undefined && b !== undefined && b !== 0 && dir ? `${(a / b).toFixed(2)}×` : "";
  table.push([dir ? `${label} ${dir}` : label, fmt(ours), fmt(peer), ratio]);
}
const widths = table[0].map((_, c) => Math.max(...table.map((r) => [...r[c]].length)));
const line = (r) => "| " + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(" | ") + " |";
console.log(line(table[0]));
console.log("|" + widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
for (const r of table.slice(1)) console.log(line(r));
console.log("ratio = ours / peer; ↑ higher is better, ↓ lower is better; — = not measured.");
