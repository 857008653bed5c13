// @ts-check
// TURN through the hub: the hub hands a browser TURN REST credentials over its native /v1/ws, and two
// relay-only RTCPeerConnections in Chromium connect through a real TURN server with them; expired and
// forged credentials get no relay candidate and never connect.
//
// One suite per TURN server in TURN_BACKENDS (webrtc-support.mjs): coturn, and the hub's embedded server
// (`p2pos signal --embedded-turn`, skipped if the binary has no such flag). Every case goes through
// runRelayCase(page, { iceServers }).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "./support.mjs";
import {
  TURN_BACKENDS,
  hubIceServers,
  newTurnSecret,
  openWebrtcPage,
  runRelayCase,
  startHarnessHub,
  turnRestCredential,
} from "./webrtc-support.mjs";

const TTL_SECS = 300;
/** How long a case with bad credentials is given to connect (it must not). */
const REFUSED_WAIT_MS = 8_000;

const nowSecs = () => Math.floor(Date.now() / 1000);
const types = (candidates) => candidates.map((c) => c.candidateType);

for (const backend of Object.values(TURN_BACKENDS)) {
  const available = await backend.available();
  describe(`TURN relay through ${backend.name}`, { skip: available === true ? false : available }, () => {
    const secret = newTurnSecret();
    let turn;
    let hub;
    let browser;
    let page;

    before(async () => {
      turn = await backend.start(secret);
      hub = await startHarnessHub([...turn.hubArgs, "--turn-ttl-secs", String(TTL_SECS)]);
      browser = await launchBrowser();
      ({ page } = await openWebrtcPage(browser, hub.url));
    });

    after(async () => {
      await browser?.close();
      await hub?.stop();
      await turn?.stop();
    });

    /** A test body whose failure message ends with what the hub and the TURN server printed. */
    const diagnosed = (body) => async () => {
      try {
        await body();
      } catch (error) {
        /** @type {Error} */ (error).message +=
          `\n--- hub output\n${hub?.output()}\n--- TURN output (tail)\n${turn?.output().slice(-4000)}`;
        throw error;
      }
    };

    /** ICE servers from the hub over /v1/ws, checked; { servers, turnServer } (the entry with credentials). */
    async function iceServersFromHub() {
      const answer = await hubIceServers(page, hub.url);
      const welcome = /** @type {Record<string, unknown>} */ (answer.welcome);
      const { reply } = answer;
      assert.equal(welcome.type, "welcome", `hello is answered by welcome: ${JSON.stringify(welcome)}`);
      assert.equal(typeof welcome.peer, "string");
      assert.equal(reply.type, "ice_servers", `turn is answered by ice_servers: ${JSON.stringify(reply)}`);
      assert.equal(reply.rid, 1, "the reply carries the request's rid");
      assert.equal(reply.ttl_secs, TTL_SECS, "ttl_secs is --turn-ttl-secs");

      const servers = reply.ice_servers;
      assert.ok(servers, `the reply lists ICE servers: ${JSON.stringify(reply)}`);
      const withCredentials = servers.filter((s) => s.username !== undefined);
      assert.equal(withCredentials.length, 1, `one TURN entry: ${JSON.stringify(servers)}`);
      const turnServer = withCredentials[0];
      assert.ok(turnServer?.username !== undefined);
      const urls = [turnServer.urls].flat();
      assert.ok(
        urls.some((u) => u.startsWith(turn.turnUrl.split("?")[0])),
        `the TURN entry names ${turn.turnUrl}: ${urls}`,
      );

      // username = "<expiry>:<opaque>", password = base64(HMAC-SHA1(secret, username)): what coturn checks.
      const match = /^(\d+):(.+)$/.exec(turnServer.username);
      assert.ok(match, `username is <expiry>:<opaque>: ${turnServer.username}`);
      const expiry = Number(match[1]);
      assert.ok(Math.abs(expiry - (nowSecs() + TTL_SECS)) <= 5, `expiry ${expiry} is now + ${TTL_SECS} s`);
      assert.equal(turnServer.credential, turnRestCredential(secret, turnServer.username));
      return { servers, turnServer };
    }

    test(
      "the hub hands out TURN REST credentials for its TURN server over /v1/ws",
      diagnosed(async () => {
        const { servers } = await iceServersFromHub();
        console.log(`ICE servers from the hub: ${JSON.stringify(servers.map((s) => s.urls))}`);
      }),
    );

    test(
      "two relay-only peer connections connect through TURN with the hub's credentials",
      diagnosed(async () => {
        const { servers } = await iceServersFromHub();
        const report = await runRelayCase(page, { iceServers: servers, timeoutMs: 15_000 });
        const detail = JSON.stringify(report, null, 1);

        assert.equal(report.connected, true, `the echo came back through the data channel: ${detail}`);
        assert.equal(report.echo, "echo: hello through TURN");
        for (const side of ["a", "b"]) {
          assert.ok(report.gathered[side].length > 0, `side ${side} gathered candidates: ${detail}`);
          assert.deepEqual(
            [...new Set(types(report.gathered[side]))],
            ["relay"],
            `side ${side} gathered relay candidates only`,
          );
          const pair = report.selected[side];
          assert.ok(pair, `side ${side} has a selected candidate pair (getStats): ${detail}`);
          assert.equal(pair.local.candidateType, "relay", `side ${side}: the selected local candidate is relay`);
          assert.equal(pair.remote.candidateType, "relay", `side ${side}: the selected remote candidate is relay`);
          assert.equal(pair.local.address, "127.0.0.1", "the relayed address is the TURN server's relay IP");
          if (turn.relayPorts) {
            const [min, max] = turn.relayPorts;
            assert.ok(
              pair.local.port >= min && pair.local.port <= max,
              `relayed port ${pair.local.port} in ${min}-${max}`,
            );
          }
        }
        assert.deepEqual(
          report.candidateErrors,
          [],
          "no ICE candidate errors (TURN refusals) with the hub's credentials",
        );
        assert.ok(report.selected.a, `a selected candidate pair: ${detail}`);
        console.log(
          `relay via ${backend.name}: connected in ${report.elapsedMs} ms, ` +
            `${report.selected.a.local.address}:${report.selected.a.local.port} <-> ` +
            `${report.selected.a.remote.address}:${report.selected.a.remote.port}`,
        );
      }),
    );

    test(
      "expired and forged credentials gather no relay candidate and never connect",
      diagnosed(async () => {
        const { turnServer } = await iceServersFromHub();
        const urls = turnServer.urls;
        const now = nowSecs();
        const expiredUser = `${now - 60}:expired`;
        const validUser = `${now + 600}:control`;
        const forgedUser = `${now + 600}:forged`;
        const cases = {
          // Right secret, right formula, expiry a minute ago.
          expired: { urls, username: expiredUser, credential: turnRestCredential(secret, expiredUser) },
          // Future expiry, but the password is made with another secret.
          forged: { urls, username: forgedUser, credential: turnRestCredential(`${secret}-wrong`, forgedUser) },
          // Control, made in Node the same way: proves the two above fail for their one defect.
          control: { urls, username: validUser, credential: turnRestCredential(secret, validUser) },
        };
        const reports = Object.fromEntries(
          await Promise.all(
            Object.entries(cases).map(async ([name, server]) => [
              name,
              await runRelayCase(page, { iceServers: [server], timeoutMs: REFUSED_WAIT_MS }),
            ]),
          ),
        );

        assert.equal(reports.control.connected, true, `control: ${JSON.stringify(reports.control, null, 1)}`);
        for (const name of ["expired", "forged"]) {
          const report = reports[name];
          const detail = `${name}: ${JSON.stringify(report, null, 1)}`;
          assert.equal(report.connected, false, `${name} credentials must not connect: ${detail}`);
          assert.equal(report.echo, null, detail);
          assert.ok(report.elapsedMs >= REFUSED_WAIT_MS, `${name}: waited the full ${REFUSED_WAIT_MS} ms`);
          assert.deepEqual(types(report.gathered.a), [], `${name}: side a gathered no candidate at all: ${detail}`);
          assert.deepEqual(types(report.gathered.b), [], `${name}: side b gathered no candidate at all: ${detail}`);
          assert.deepEqual(report.selected, { a: null, b: null }, `${name}: no candidate pair was selected`);
          assert.ok(
            report.candidateErrors.length > 0 &&
              report.candidateErrors.every((e) => e.errorCode === backend.authRefusalCode),
            `${name}: the TURN server refused the allocation with ${backend.authRefusalCode}: ${detail}`,
          );
        }
        const summary = (r) => [...new Set(r.candidateErrors.map((e) => `${e.errorCode} ${e.errorText}`))].join("; ");
        console.log(`refused as expected: expired (${summary(reports.expired)}), forged (${summary(reports.forged)})`);
      }),
    );
  });
}
