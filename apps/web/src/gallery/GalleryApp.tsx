/**
 * The Gallery app (`/gallery/#<name>`): join a gallery by name or link, then the room. Needs no
 * family identity and no vault; its own identity is a nickname and a random tag in localStorage.
 * All the work happens in src/lib/gallery*.ts; this only sequences it.
 *
 * With `?test-hooks` in the URL (on a loopback host), `window.p2posGalleryTest` lets the browser tests act as a
 * modified peer (push bytes nobody asked for, stall transfers).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import {
  forgetGalleryIdentity,
  type GalleryIdentity,
  GallerySession,
  galleryNameFromHash,
  loadGalleryIdentity,
  newGalleryIdentity,
  saveGalleryIdentity,
} from "../lib/gallery.ts";
import { GalleryJoin } from "./GalleryJoin.tsx";
import { GalleryRoom } from "./GalleryRoom.tsx";
import { describeGalleryError } from "./describe.ts";
import { installTestHooks } from "./testHooks.ts";
import { testHooksAllowed } from "../lib/testHooks.ts";

type State =
  | { phase: "join"; busy: boolean; error: string | undefined; left: boolean }
  | { phase: "room"; session: GallerySession };

export function GalleryApp() {
  const [identity, setIdentity] = useState<GalleryIdentity | undefined>(() => loadGalleryIdentity());
  const [state, setState] = useState<State>({ phase: "join", busy: false, error: undefined, left: false });
  const [initialName] = useState(() => galleryNameFromHash(location.hash));
  const session = useRef<GallerySession | undefined>(undefined);

  useEffect(() => {
    if (!testHooksAllowed()) return;
    return installTestHooks(() => session.current);
  }, []);

  // Closing the page ends everything anyway; unmounting (or leaving the route) does it explicitly.
  useEffect(
    () => () => {
      session.current?.leave();
      session.current = undefined;
    },
    [],
  );

  const join = useCallback(async (name: string, who: GalleryIdentity) => {
    setState({ phase: "join", busy: true, error: undefined, left: false });
    try {
      saveGalleryIdentity(who);
      setIdentity(who);
      // The name goes into the fragment, so the address bar is the link (the hub never sees it).
      history.replaceState(null, "", `/gallery/${location.search}#${encodeURIComponent(name)}`);
      const joined = await GallerySession.join({ name, identity: who });
      session.current?.leave();
      session.current = joined;
      setState({ phase: "room", session: joined });
    } catch (error) {
      setState({ phase: "join", busy: false, error: describeGalleryError(error), left: false });
    }
  }, []);

  const leave = useCallback(() => {
    session.current?.leave();
    session.current = undefined;
    setState({ phase: "join", busy: false, error: undefined, left: true });
  }, []);

  const reset = useCallback(() => {
    const current = session.current;
    if (!current) return;
    const name = current.name;
    current.leave();
    session.current = undefined;
    forgetGalleryIdentity();
    void join(name, newGalleryIdentity());
  }, [join]);

  return (
    <div className="page gallery-page">
      <header className="masthead">
        <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={32} height={32} />
        <div>
          <p className="brand">P2POS Gallery</p>
          <p className="tagline">Shared while you are here. Gone when everyone leaves.</p>
        </div>
      </header>
      <main>
        {state.phase === "room" ? (
          <GalleryRoom
            key={state.session.ns + state.session.identity.tag}
            session={state.session}
            onLeave={leave}
            onReset={reset}
          />
        ) : (
          <GalleryJoin
            initialName={initialName}
            identity={identity}
            busy={state.busy}
            error={state.error}
            left={state.left}
            onJoin={(name, who) => void join(name, who)}
          />
        )}
      </main>
    </div>
  );
}
