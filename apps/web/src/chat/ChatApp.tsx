/**
 * Chat (`/chat`): people on this network, connection requests, saved contacts and conversations.
 * Uses the browser's vault identity when it has one; otherwise it creates one the same way the
 * vault does (with a passphrase for its backup), then asks once for the name shown in chat.
 * All the work happens in `client.ts` (the driver) and the sans-IO machines; this only shows it.
 *
 * With `?test-hooks` in the URL (on a loopback host), `window.p2posChatTest` lets the browser tests move the clock,
 * shorten timers, read what the hub sent, and play a squatter.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type SubmitEvent } from "react";
import { CreateIdentityForm } from "../components/CreateIdentityForm.tsx";
import { describeError } from "../errorMessages.ts";
import { loadIdentity, type StoredIdentity } from "../lib/identity.ts";
import { checkWebCryptoSupport } from "../lib/keys.ts";
import { ChatClient, type ChatSnapshot, type ContactView } from "./client.ts";
import { Conversation } from "./Conversation.tsx";
import { ChatStore } from "./store.ts";
import { installTestHooks, readTestParams } from "./testHooks.ts";
import { MAX_NAME } from "./protocol.ts";
import { testHooksAllowed } from "../lib/testHooks.ts";

type State =
  | { phase: "loading" }
  | { phase: "failed"; message: string }
  | { phase: "identity" }
  | { phase: "name"; identity: StoredIdentity; store: ChatStore }
  | { phase: "ready"; client: ChatClient };

export function ChatApp() {
  const [state, setState] = useState<State>({ phase: "loading" });
  const client = useRef<ChatClient | undefined>(undefined);
  const hooks = useState(() => testHooksAllowed())[0];

  useEffect(() => {
    if (!hooks) return;
    readTestParams(new URLSearchParams(location.search));
    return installTestHooks(() => client.current);
  }, [hooks]);

  const begin = useCallback(async (identity: StoredIdentity, signal?: AbortSignal) => {
    const store = await ChatStore.open();
    const profile = await store.profile();
    if (signal?.aborted) return;
    if (!profile) {
      setState({ phase: "name", identity, store });
      return;
    }
    const started = new ChatClient({ identity, store });
    client.current = started;
    setState({ phase: "ready", client: started });
    await started.start();
  }, []);

  useEffect(() => {
    const mounted = new AbortController();
    void (async () => {
      const support = await checkWebCryptoSupport();
      if (!support.ok) {
        setState({ phase: "failed", message: support.reason });
        return;
      }
      try {
        const identity = await loadIdentity();
        if (mounted.signal.aborted) return;
        if (!identity) setState({ phase: "identity" });
        else await begin(identity, mounted.signal);
      } catch (error) {
        if (!mounted.signal.aborted) setState({ phase: "failed", message: describeError(error) });
      }
    })();
    return () => {
      mounted.abort();
      client.current?.stop();
      client.current = undefined;
    };
  }, [begin]);

  return (
    <div className="page chat-page">
      <header className="masthead">
        <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={32} height={32} />
        <div>
          <p className="brand">P2POS Chat</p>
          <p className="tagline">People nearby and your contacts, end to end. The hub only introduces you.</p>
        </div>
      </header>
      <main>
        {state.phase === "loading" && (
          <p className="muted" role="status">
            Opening your keys…
          </p>
        )}
        {state.phase === "failed" && (
          <section className="card notice" role="alert">
            <h1>Chat cannot start</h1>
            <p>{state.message}</p>
          </section>
        )}
        {state.phase === "identity" && (
          <div className="stack">
            <section className="card">
              <h1>Your identity</h1>
              <p className="muted">
                Chat proves who you are with the same identity as your vault. This browser has none yet: create one. Its
                key never leaves this browser; the passphrase protects its backup.
              </p>
            </section>
            <CreateIdentityForm
              onCreated={(identity) => {
                begin(identity).catch((error: unknown) => setState({ phase: "failed", message: describeError(error) }));
              }}
            />
          </div>
        )}
        {state.phase === "name" && (
          <NameForm
            initial={state.identity.name ?? ""}
            onSave={async (name) => {
              await state.store.saveProfile({ name, visible: true });
              await begin(state.identity);
            }}
          />
        )}
        {state.phase === "ready" && <ChatMain client={state.client} />}
      </main>
    </div>
  );
}

function NameForm({ initial, onSave }: { initial: string; onSave: (name: string) => Promise<void> }) {
  const [name, setName] = useState(initial.slice(0, MAX_NAME));
  const [error, setError] = useState<string>();
  const submit = (event: SubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === "") return;
    onSave(trimmed).catch((caught: unknown) => setError(describeError(caught)));
  };
  return (
    <form className="card chat-name-form" onSubmit={submit} data-testid="chat-name-form">
      <h1>Your name in chat</h1>
      <p className="muted">
        People on your network see this name beside a random id that changes every visit. They never see who you are
        until you both accept a connection.
      </p>
      <label htmlFor="chat-name">Name</label>
      <input
        id="chat-name"
        data-testid="chat-name-input"
        maxLength={MAX_NAME}
        value={name}
        autoComplete="nickname"
        onChange={(event) => setName(event.target.value)}
      />
      {error && <p className="form-error">{error}</p>}
      <div className="buttons">
        <button type="submit" data-testid="chat-name-save" disabled={name.trim() === ""}>
          Save
        </button>
      </div>
    </form>
  );
}

function ChatMain({ client }: { client: ChatClient }) {
  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot);
  const [open, setOpen] = useState<string>();
  const [editing, setEditing] = useState(false);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<Awaited<ReturnType<ChatClient["search"]>>>([]);

  useEffect(() => {
    let live = true;
    void client.search(query).then((found) => {
      if (live) setResults(found);
    });
    return () => {
      live = false;
    };
  }, [client, query, snapshot.messages]);

  const contact = snapshot.contacts.find((c) => c.id === open);
  if (contact) {
    return <Conversation client={client} snapshot={snapshot} contact={contact} onBack={() => setOpen(undefined)} />;
  }

  const asked = snapshot.conns.filter((c) => c.direction === "in" && c.via === "nearby" && c.contact === undefined);
  const outgoing = snapshot.conns.filter((c) => c.direction === "out" && c.via === "nearby");
  const name = (id: string) => snapshot.contacts.find((c) => c.id === id)?.name ?? "a contact";

  return (
    <div className="stack chat-main" data-testid="chat-main" data-status={snapshot.status}>
      {snapshot.status === "failed" && (
        <section className="card notice" role="alert" data-testid="chat-error">
          <h1>The hub could not be reached</h1>
          <p>{snapshot.error}</p>
        </section>
      )}
      {snapshot.notices.length > 0 && (
        <section className="chat-notices" aria-live="polite">
          {snapshot.notices.map((text, index) => (
            <p key={`${index}-${text}`} className="chat-notice" data-testid="chat-notice">
              {text}{" "}
              <button type="button" className="link-button" onClick={() => client.dismissNotice(index)}>
                Dismiss
              </button>
            </p>
          ))}
        </section>
      )}
      {snapshot.impostors.map((impostor) => (
        <section
          key={impostor.peer}
          className="card chat-impostor"
          role="alert"
          data-testid="impostor"
          data-peer={impostor.peer}
        >
          <strong>Impostor refused.</strong> Someone on this network ({impostor.peer.slice(-6)}) claimed to be{" "}
          {impostor.claimedName} but could not prove it ({impostor.reason.replace(/_/g, " ")}). It will not be called
          again.
        </section>
      ))}

      <section className="card chat-me">
        {editing ? (
          <NameForm
            initial={snapshot.me.name}
            onSave={async (next) => {
              await client.setName(next);
              setEditing(false);
            }}
          />
        ) : (
          <p className="chat-me-line">
            You are <strong data-testid="chat-me-name">{snapshot.me.name}</strong>{" "}
            <button type="button" className="link-button" onClick={() => setEditing(true)} data-testid="chat-edit-name">
              Change
            </button>
          </p>
        )}
        <label className="chat-toggle">
          <input
            type="checkbox"
            data-testid="chat-visible"
            checked={snapshot.me.visible}
            onChange={(event) => void client.setVisible(event.target.checked)}
          />
          Visible on this network
        </label>
        <input
          type="search"
          className="chat-search"
          placeholder="Search your messages"
          aria-label="Search your messages"
          data-testid="chat-search"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        {query.trim() !== "" && (
          <ul className="chat-results" data-testid="chat-results">
            {results.length === 0 && <li className="muted">Nothing found.</li>}
            {results.map(({ contact: id, message }) => (
              <li key={message.id} data-testid="chat-result">
                <button type="button" className="link-button" onClick={() => setOpen(id)}>
                  {name(id)}
                </button>
                : {message.text ?? `image ${message.image?.name ?? ""}`}
              </li>
            ))}
          </ul>
        )}
      </section>

      {asked.length > 0 && (
        <section className="card chat-requests" data-testid="requests">
          <h2>Requests</h2>
          <ul className="chat-list">
            {asked.map((conn) => (
              <li
                key={conn.rq}
                className="chat-row"
                data-testid="request"
                data-name={conn.name}
                data-phase={conn.phase}
              >
                <span className="chat-who">
                  <strong>{conn.name}</strong> <span className="chat-short">{conn.shortId}</span>
                </span>
                {conn.phase === "asked" ? (
                  <span className="chat-actions">
                    <button type="button" data-testid="accept" onClick={() => void client.accept(conn.rq)}>
                      Accept
                    </button>
                    <button
                      type="button"
                      className="secondary"
                      data-testid="decline"
                      onClick={() => void client.decline(conn.rq)}
                    >
                      Decline
                    </button>
                  </span>
                ) : (
                  <span className="chat-actions">
                    <span className="muted" data-testid="request-state">
                      {conn.ended ?? phaseText(conn.phase)}
                    </span>
                    {conn.phase !== "connecting" && conn.phase !== "proving" && (
                      <button type="button" className="link-button" onClick={() => client.dismiss(conn.rq)}>
                        Dismiss
                      </button>
                    )}
                  </span>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}

      <section className="card chat-nearby" data-testid="nearby">
        <h2>On this network</h2>
        <p className="muted small-print">
          Browsers that share your public address. You see their name and a random id; they see yours.
        </p>
        {snapshot.nearby.length === 0 ? (
          <p className="muted" data-testid="nearby-empty">
            {snapshot.status === "ready" ? "Nobody else here right now." : "Looking…"}
          </p>
        ) : (
          <ul className="chat-list">
            {snapshot.nearby.map((entry) => {
              const conn = [...outgoing].reverse().find((c) => c.peer === entry.peer);
              const impostor = client.isBlacklisted(entry.peer);
              return (
                <li
                  key={entry.peer}
                  className="chat-row"
                  data-testid="nearby-entry"
                  data-name={entry.name}
                  data-peer={entry.peer}
                >
                  <span className="chat-who">
                    <strong>{entry.name}</strong> <span className="chat-short">{entry.shortId}</span>
                    {impostor && <span className="chat-badge chat-badge-bad">impostor</span>}
                  </span>
                  <span className="chat-actions">
                    {conn && (
                      <span className="muted" data-testid="connect-state" data-phase={conn.phase}>
                        {conn.ended ?? phaseText(conn.phase)}
                      </span>
                    )}
                    {!impostor &&
                      (!conn || conn.ended !== undefined || conn.phase === "closed" || conn.phase === "declined") && (
                        <button type="button" data-testid="connect" onClick={() => client.connect(entry.peer)}>
                          Connect
                        </button>
                      )}
                  </span>
                </li>
              );
            })}
          </ul>
        )}
      </section>

      <section className="card chat-contacts" data-testid="contacts">
        <h2>Saved contacts</h2>
        {snapshot.contacts.length === 0 ? (
          <p className="muted">
            None yet. Connect with someone on this network: once you both accept, you are contacts.
          </p>
        ) : (
          <ul className="chat-list">
            {snapshot.contacts.map((contact) => (
              <ContactRow key={contact.id} contact={contact} client={client} onOpen={() => setOpen(contact.id)} />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function ContactRow({ contact, client, onOpen }: { contact: ContactView; client: ChatClient; onOpen: () => void }) {
  return (
    <li
      className="chat-row"
      data-testid="contact"
      data-name={contact.name}
      data-id={contact.id}
      data-online={contact.online ? "yes" : "no"}
      data-via={contact.via ?? ""}
      data-rv={contact.rv ?? ""}
      data-nearby={contact.nearbyPeers.length > 0 ? "yes" : "no"}
    >
      <span className="chat-who">
        <span className={`dot ${contact.online ? "dot-green" : "dot-amber"}`} aria-hidden="true" />
        <strong>{contact.name}</strong>{" "}
        <span className="muted" data-testid="contact-state">
          {contact.online ? `online, ${contact.path ?? "direct"}` : contact.calling ? "calling…" : "offline"}
        </span>
        {contact.nearbyPeers.length > 0 && (
          <span className="chat-badge" data-testid="contact-nearby">
            ● on this network
          </span>
        )}
        {contact.rv && contact.rv !== "connected" && (
          <span className="chat-badge" data-testid="contact-rv">
            {contact.rv === "recovering" ? "recovering through rendezvous" : contact.rv}
          </span>
        )}
        {contact.unread > 0 && <span className="chat-badge chat-badge-new">{contact.unread} new</span>}
      </span>
      <span className="chat-actions">
        {!contact.online &&
          contact.nearbyPeers.map((peer) => (
            <button
              key={peer}
              type="button"
              className="secondary"
              data-testid="connect-nearby"
              onClick={() => client.connect(peer)}
            >
              Connect here{contact.nearbyPeers.length > 1 ? ` (${peer.slice(-6)})` : ""}
            </button>
          ))}
        {!contact.online && (
          <button
            type="button"
            className="secondary"
            data-testid="ping"
            disabled={contact.calling}
            onClick={() => client.ping(contact.id)}
          >
            Ping
          </button>
        )}
        <button
          type="button"
          data-testid="open-chat"
          onClick={() => {
            if (!contact.online) client.ping(contact.id);
            onOpen();
          }}
        >
          Open chat
        </button>
      </span>
    </li>
  );
}

export function phaseText(phase: ChatSnapshot["conns"][number]["phase"]): string {
  switch (phase) {
    case "requesting":
      return "Waiting for an answer…";
    case "asked":
      return "Asks to connect";
    case "declined":
      return "Declined.";
    case "connecting":
      return "Connecting…";
    case "proving":
      return "Proving identities…";
    case "open":
      return "Connected: you are contacts.";
    case "closed":
      return "Ended.";
    case "squatter":
      return "Impostor: refused.";
  }
}
