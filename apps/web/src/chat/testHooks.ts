/**
 * `window.p2posChatTest`, installed only when the page was opened with `?test-hooks`: what the
 * browser tests need to cross a rendezvous slot boundary without waiting ten minutes, to read what
 * the hub sent this page, and to play a squatter (a page that replays someone's nearby profile,
 * answers calls meant for them and rings their contacts).
 *
 * URL parameters (read before the client starts): `no-auto-call` (do not ring the contacts on
 * load), `clock-at=<unix ms>` (this page's clock reads that now).
 */
import { testControls, type ChatClient } from "./client.ts";

export interface ChatTestHooks {
  /** This page's anonymous hub peer id and the profile it said hello with. */
  me(): { peer: string | undefined; profile: Record<string, unknown> | undefined } | undefined;
  /** Everything the hub sent this page (signals with their payloads, presence, …). */
  hubLog(): unknown[];
  /** This page's clock reads `unixMs` now (rendezvous slots follow it). */
  setClock(unixMs: number): void;
  now(): number;
  /** Say hello again with this profile (a squatter replaying another page's). */
  replayProfile(profile: Record<string, unknown>): Promise<void>;
  /** Answer any call as if the caller were a contact. */
  squat(on: boolean): void;
  /** While squatting: ring a nearby peer as the one whose profile this page replays. */
  squatCall(peer: string): void;
  /** The `rv:` names this page is in, by contact id. */
  rvJoined(): Record<string, readonly string[]>;
  /** Requests, calls and chats under way (their `rq` and peer). */
  conns(): { rq: string; peer: string; phase: string; direction: string }[];
  /** Sends a raw signal payload to a hub peer on the anonymous connection (a peer that breaks the rules). */
  sendSignal(to: string, payload: Record<string, unknown>): void;
}

declare global {
  interface Window {
    p2posChatTest?: ChatTestHooks;
  }
}

export function readTestParams(params: URLSearchParams): void {
  testControls.hubLog = [];
  if (params.has("no-auto-call")) testControls.noAutoCall = true;
  const at = Number(params.get("clock-at"));
  if (params.has("clock-at") && Number.isSafeInteger(at)) testControls.clockOffsetMs = at - Date.now();
}

export function installTestHooks(current: () => ChatClient | undefined): () => void {
  window.p2posChatTest = {
    me: () => {
      const client = current();
      return client ? { peer: client.anonPeer, profile: client.nearbyProfile } : undefined;
    },
    hubLog: () => structuredClone(testControls.hubLog ?? []),
    setClock: (unixMs) => {
      testControls.clockOffsetMs = unixMs - Date.now();
      current()?.clockChanged();
    },
    now: () => Date.now() + testControls.clockOffsetMs,
    replayProfile: async (profile) => {
      testControls.profileOverride = profile;
      await current()?.rehello();
    },
    squat: (on) => {
      testControls.squat = on;
    },
    squatCall: (peer) => current()?.squatCall(peer),
    rvJoined: () => current()?.rvJoined() ?? {},
    conns: () =>
      (current()?.getSnapshot().conns ?? []).map(({ rq, peer, phase, direction }) => ({ rq, peer, phase, direction })),
    sendSignal: (to, payload) => current()?.rawSignal(to, payload),
  };
  return () => {
    delete window.p2posChatTest;
  };
}
