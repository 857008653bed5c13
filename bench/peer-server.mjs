// Starts `peer` (the PeerJS server, pinned in package.json) the way its CLI does, minus the
// CLI's per-connection console logging, so the bench measures the server rather than its
// log output. Usage: node peer-server.mjs --port P [--host 127.0.0.1] [--concurrent_limit N]
import { PeerServer } from "peer";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt("port", "9000"));
const host = opt("host", "127.0.0.1");
const concurrent_limit = Number(opt("concurrent_limit", "5000"));

// Same as the CLI for everything else: path "/", key "peerjs", alive_timeout 60 s.
const server = PeerServer({ port, host, path: "/", concurrent_limit, alive_timeout: 60000 }, (s) => {
  const a = s.address();
  console.log(`peer listening on ${a.address}:${a.port} (pid ${process.pid}, concurrent_limit ${concurrent_limit})`);
});
server.on("error", (e) => console.error(`peer error: ${e}`));
process.on("uncaughtException", (e) => console.error(`Error: ${e}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
