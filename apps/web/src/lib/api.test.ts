import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, createApi, type ApiTransport } from "./api.ts";
import { loginMessage, signIn, withAutoSignIn } from "./session.ts";
import { generateIdentityFile, importIdentity } from "./identity.ts";
import { decodeBase64 } from "./base64.ts";
import { utf8Encode } from "./bytes.ts";

afterEach(() => vi.unstubAllGlobals());

function stubFetch(handler: (url: string, init: RequestInit) => Response) {
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return Promise.resolve(handler(url, init));
  });
  return calls;
}

describe("api client", () => {
  it("turns node errors into ApiError with status, code and message", async () => {
    stubFetch(() =>
      Response.json({ error: "forbidden", message: "this album is not shared with you" }, { status: 403 }),
    );
    const error = await createApi()
      .album("a".repeat(26))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "forbidden", message: "this album is not shared with you" });
  });

  it("reports non-JSON failures and network errors", async () => {
    stubFetch(() => new Response("bad gateway", { status: 502 }));
    await expect(createApi().members()).rejects.toMatchObject({ status: 502, code: "unexpected" });
    vi.stubGlobal("fetch", () => Promise.reject(new TypeError("Failed to fetch")));
    await expect(createApi().members()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("sends each call over a custom transport as the same request, with `/v1` paths", async () => {
    // What a data channel to the node (nodeChannel.ts) receives: a path, not a URL of this page.
    const seen: { url: string; method: string; headers: Headers; body: unknown }[] = [];
    const transport: ApiTransport = {
      fetch: (url, init = {}) => {
        seen.push({
          url,
          method: init.method ?? "GET",
          headers: new Headers(init.headers),
          body: init.body,
        });
        if (init.method === "DELETE" || url.endsWith("/logout"))
          return Promise.resolve(new Response(null, { status: 204 }));
        if (url.startsWith("/v1/blobs/")) return Promise.resolve(new Response(new Uint8Array([1, 2, 3])));
        return Promise.resolve(Response.json(url.startsWith("/v1/records?") ? [] : { seq: 7, current: true }));
      },
    };
    const api = createApi("", transport);
    expect(await api.records(5, 20)).toEqual([]);
    await api.replicationStatus({ album: "a b", photos: false });
    await api.replicationStatus();
    await api.postRecord({ body: "Ym9keQ==", signer: "S", sig: "c2ln" });
    await api.removePeer("node/1");
    await api.logout();
    expect(await (await api.getBlob("ab")).arrayBuffer()).toEqual(new Uint8Array([1, 2, 3]).buffer);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /v1/records?since=5&limit=20",
      "GET /v1/replication/status?album=a%20b&photos=false",
      "GET /v1/replication/status",
      "POST /v1/records",
      "DELETE /v1/nodes/peers/node%2F1",
      "POST /v1/auth/logout",
      "GET /v1/blobs/ab",
    ]);
    const post = seen[3];
    expect(JSON.parse(post?.body as string)).toEqual({ body: "Ym9keQ==", signer: "S", sig: "c2ln" });
    expect(post?.headers.get("content-type")).toBe("application/json");
    expect(post?.headers.get("accept")).toBe("application/json");
    expect(seen[0]?.body).toBeUndefined();
    expect(seen[0]?.headers.get("content-type")).toBeNull();
    // A blob is not JSON: no Accept header, as before the typed client.
    expect(seen[6]?.headers.get("accept")).toBeNull();
  });

  it("reports a cancelled blob download as aborted, and a failure of the channel as it is", async () => {
    const lost = new ApiError(0, "network", "The connection to the node was lost.");
    const api = createApi("", {
      fetch: (_url, init) =>
        init?.signal?.aborted ? Promise.reject(new DOMException("aborted", "AbortError")) : Promise.reject(lost),
    });
    const controller = new AbortController();
    controller.abort();
    await expect(api.getBlob("ab", controller.signal)).rejects.toMatchObject({ status: 0, code: "aborted" });
    await expect(api.members()).rejects.toBe(lost);
  });

  it("sends JSON same-origin and signs in with the login message", async () => {
    const keys = await importIdentity(await generateIdentityFile());
    const calls = stubFetch((url, init) => {
      if (url.endsWith("/challenge")) return Response.json({ nonce: "n0nce", expires_ms: 42 });
      const body = JSON.parse(init.body as string) as { identity: string; sig: string };
      return Response.json({ identity: body.identity, role: null, expires_ms: 99 });
    });
    const me = await signIn(createApi("http://node.test"), keys, "http://node.test");
    expect(me).toEqual({ identity: keys.id, role: null, expires_ms: 99 });
    expect(calls.map((c) => c.url)).toEqual(["http://node.test/v1/auth/challenge", "http://node.test/v1/auth/verify"]);
    for (const call of calls) expect(call.init.credentials).toBe("same-origin");
    const verify = JSON.parse(calls[1]?.init.body as string) as { identity: string; nonce: string; sig: string };
    expect(verify.nonce).toBe("n0nce");
    const publicKey = await crypto.subtle.importKey("raw", new Uint8Array(keys.publicKey), "Ed25519", false, [
      "verify",
    ]);
    const valid = await crypto.subtle.verify(
      "Ed25519",
      publicKey,
      new Uint8Array(decodeBase64(verify.sig)),
      utf8Encode(loginMessage("http://node.test", "n0nce", 42)),
    );
    expect(valid).toBe(true);
    expect(loginMessage("http://a", "b", 3)).toBe("p2pos-login-v1|http://a|b|3");
  });

  it("signs in again once when a session has ended, and retries", async () => {
    const keys = await importIdentity(await generateIdentityFile());
    let signedIn = false;
    const calls = stubFetch((url) => {
      if (url.endsWith("/auth/challenge")) return Response.json({ nonce: "n", expires_ms: 1 });
      if (url.endsWith("/auth/verify")) {
        signedIn = true;
        return Response.json({ identity: keys.id, role: "member", expires_ms: 2 });
      }
      return signedIn
        ? Response.json([])
        : Response.json({ error: "unauthorized", message: "sign in" }, { status: 401 });
    });
    const api = withAutoSignIn(createApi(), keys, "http://node.test");
    expect(await api.members()).toEqual([]);
    expect(calls.map((c) => new URL(c.url, "http://x").pathname)).toEqual([
      "/v1/members",
      "/v1/auth/challenge",
      "/v1/auth/verify",
      "/v1/members",
    ]);
    // A 403 is an answer, not an ended session: no sign-in.
    stubFetch(() => Response.json({ error: "forbidden", message: "no" }, { status: 403 }));
    await expect(api.albums()).rejects.toMatchObject({ status: 403 });
  });

  it("does not sign in again and again when the node says we are not a member", async () => {
    const keys = await importIdentity(await generateIdentityFile());
    let member = false;
    const calls = stubFetch((url) => {
      if (url.endsWith("/auth/challenge")) return Response.json({ nonce: "n", expires_ms: 1 });
      if (url.endsWith("/auth/verify")) {
        return member
          ? Response.json({ identity: keys.id, role: "member", expires_ms: 2 })
          : Response.json({ error: "not_a_member", message: "not a member of this family" }, { status: 403 });
      }
      return member ? Response.json([]) : Response.json({ error: "unauthorized", message: "sign in" }, { status: 401 });
    });
    const api = withAutoSignIn(createApi(), keys, "http://node.test");
    await expect(api.members()).rejects.toMatchObject({ status: 403, code: "not_a_member" });
    // The refusal is remembered: a poller's next calls do not log in again.
    await expect(api.albums()).rejects.toMatchObject({ code: "not_a_member" });
    await expect(api.members()).rejects.toMatchObject({ code: "not_a_member" });
    const paths = () => calls.map((c) => new URL(c.url, "http://x").pathname);
    expect(paths()).toEqual(["/v1/members", "/v1/auth/challenge", "/v1/auth/verify", "/v1/albums", "/v1/members"]);
    // Added since: a sign-in on purpose ("check again") works, and so does the client again.
    member = true;
    await signIn(api, keys, "http://node.test");
    expect(await api.members()).toEqual([]);
  });
});
