/**
 * Drop, the view-once image transfer (`/drop` to send, `/drop/<room>#<secret>` to receive). Needs no
 * identity and no vault: only the hub that served the page. Protocol and crypto: `protocol.ts`; the
 * session protocol: `sender.ts` and `receiver.ts`, driven by `session.ts`. With `?test-hooks` in the
 * URL, `window.p2posDropTest` lets the browser tests shorten the stall timeout.
 */
import { useEffect, useState } from "react";
import { dropRoute } from "./protocol.ts";
import { checkWebCryptoSupport } from "../lib/keys.ts";
import { DropReceive } from "./DropReceive.tsx";
import { DropSend } from "./DropSend.tsx";
import { installTestHooks } from "./testHooks.ts";
import { testHooksAllowed } from "../lib/testHooks.ts";

export function DropApp() {
  const [route] = useState(() => dropRoute(location.pathname, location.hash));
  const [unsupported, setUnsupported] = useState<string>();

  useEffect(() => {
    if (!testHooksAllowed()) return;
    return installTestHooks();
  }, []);

  useEffect(() => {
    const mounted = new AbortController();
    void checkWebCryptoSupport().then((support) => {
      if (!support.ok && !mounted.signal.aborted) setUnsupported(support.reason);
    });
    return () => mounted.abort();
  }, []);

  return (
    <div className="page drop-page">
      <header className="masthead">
        <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={32} height={32} />
        <div>
          <p className="brand">P2POS Drop</p>
          <p className="tagline">One image, seen once, encrypted end to end.</p>
        </div>
      </header>
      <main>
        {unsupported !== undefined ? (
          <section className="card notice drop-card" role="alert" data-testid="drop-unsupported">
            <h1>This browser cannot open drops</h1>
            <p>{unsupported}</p>
            <p>Use a current Chrome, Chromium, Edge, Firefox or Safari.</p>
          </section>
        ) : route.kind === "send" ? (
          <DropSend />
        ) : route.kind === "receive" ? (
          <DropReceive room={route.room} secret={route.secret} />
        ) : (
          <section className="card notice drop-card" data-testid="drop-receive">
            <h1>This link is incomplete</h1>
            <p data-testid="drop-status" data-state="bad_link" role="alert">
              {route.message}
            </p>
            <p className="muted">
              A drop link ends with a “#” and a 22-character secret. Links copied from some apps lose that part: ask the
              sender to paste the whole link again, or to show you its QR code.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
