/**
 * One conversation with a saved contact: its history (from the sealed store), receipts, images,
 * "typing…", whether the link runs direct or through the relay, the composer (queued in the
 * outbox while the contact is offline), and deleting a message or the whole chat.
 */
import { useEffect, useRef, useState, type SubmitEvent } from "react";
import type { ChatClient, ChatSnapshot, ContactView } from "./client.ts";
import type { StoredMessage } from "./store.ts";
import { MAX_TEXT } from "./protocol.ts";

export function Conversation({
  client,
  snapshot,
  contact,
  onBack,
}: {
  client: ChatClient;
  snapshot: ChatSnapshot;
  contact: ContactView;
  onBack: () => void;
}) {
  const messages = snapshot.messages[contact.id] ?? [];
  const [text, setText] = useState("");
  const [replyTo, setReplyTo] = useState<StoredMessage>();
  const [error, setError] = useState<string>();
  const lastTyping = useRef(0);
  const bottom = useRef<HTMLDivElement>(null);

  // What arrived while the conversation is in view has been read.
  const unread = messages.some((m) => m.from === "them" && m.status === "received");
  useEffect(() => {
    if (unread && document.visibilityState === "visible") void client.markRead(contact.id);
  }, [client, contact.id, unread, contact.online]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [messages.length]);

  const typing = contact.typing;

  const send = (event: SubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    const body = text.trim();
    if (body === "") return;
    setText("");
    setReplyTo(undefined);
    client.sendText(contact.id, body, replyTo?.id).catch((caught: unknown) => setError(String(caught)));
  };

  const byId = new Map(messages.map((m) => [m.id, m]));

  return (
    <section className="card chat-conversation" data-testid="conversation" data-contact={contact.id}>
      <header className="chat-conv-head">
        <button type="button" className="link-button" onClick={onBack} data-testid="back">
          ← Back
        </button>
        <div className="chat-conv-title">
          <h1>{contact.name}</h1>
          <p className="muted small-print" data-testid="conv-status" data-online={contact.online ? "yes" : "no"}>
            <span className={`dot ${contact.online ? "dot-green" : "dot-amber"}`} aria-hidden="true" />{" "}
            {contact.online ? (
              <>
                online,{" "}
                <span data-testid="conv-path" data-path={contact.path ?? "direct"}>
                  {contact.path === "relayed" ? "relayed through the hub's TURN server" : "direct connection"}
                </span>
              </>
            ) : contact.calling ? (
              "calling…"
            ) : (
              "offline: messages wait in your outbox"
            )}
          </p>
        </div>
      </header>
      {contact.impostor && (
        <p className="chat-impostor" role="alert" data-testid="conv-impostor">
          Someone claimed to be {contact.name} and failed the identity proof. It was refused.
        </p>
      )}
      {contact.pausePrompt && (
        <p className="chat-notice">
          {contact.name} has not been seen for 30 days.{" "}
          <button type="button" className="link-button" onClick={() => void client.setRendezvous(contact.id, false)}>
            Pause its rendezvous
          </button>
        </p>
      )}

      <ol className="chat-messages" data-testid="messages" aria-live="polite">
        {messages.length === 0 && <li className="muted">No messages yet.</li>}
        {messages.map((message) => (
          <MessageRow
            key={message.id}
            client={client}
            message={message}
            replied={message.re === undefined ? undefined : byId.get(message.re)}
            onReply={() => setReplyTo(message)}
            onDelete={() => void client.deleteMessage(contact.id, message.id)}
          />
        ))}
        <div ref={bottom} />
      </ol>
      {typing && (
        <p className="muted small-print" data-testid="typing">
          {contact.name} is typing…
        </p>
      )}

      <form className="chat-composer" onSubmit={send}>
        {replyTo && (
          <p className="chat-reply-to small-print">
            Replying to “{(replyTo.text ?? replyTo.image?.name ?? "").slice(0, 60)}”{" "}
            <button type="button" className="link-button" onClick={() => setReplyTo(undefined)}>
              Cancel
            </button>
          </p>
        )}
        <div className="chat-composer-row">
          <input
            data-testid="composer"
            aria-label="Message"
            placeholder={contact.online ? "Message" : "Message (sent when you are both online)"}
            maxLength={MAX_TEXT}
            value={text}
            onChange={(event) => {
              setText(event.target.value);
              if (Date.now() - lastTyping.current > 3_000) {
                lastTyping.current = Date.now();
                void client.typingNow(contact.id);
              }
            }}
          />
          <button type="submit" data-testid="send" disabled={text.trim() === ""}>
            Send
          </button>
        </div>
        <div className="chat-composer-row">
          <label className="secondary chat-file">
            Image…
            <input
              type="file"
              accept="image/*"
              data-testid="image-input"
              className="sr-only"
              onChange={(event) => {
                const file = event.target.files?.[0];
                event.target.value = "";
                if (file) client.sendImage(contact.id, file).catch((caught: unknown) => setError(String(caught)));
              }}
            />
          </label>
          <label className="chat-toggle small-print">
            <input
              type="checkbox"
              data-testid="rendezvous"
              checked={contact.rendezvous}
              onChange={(event) => void client.setRendezvous(contact.id, event.target.checked)}
            />
            Rendezvous when the usual path fails
          </label>
        </div>
        {error && <p className="form-error">{error}</p>}
      </form>
      <p className="chat-danger small-print">
        <button
          type="button"
          className="link-button danger-link"
          data-testid="delete-chat"
          onClick={() => {
            if (confirm(`Delete the whole conversation with ${contact.name} from this browser?`)) {
              void client.deleteChat(contact.id);
            }
          }}
        >
          Delete this chat
        </button>
      </p>
    </section>
  );
}

const STATUS_TEXT: Record<StoredMessage["status"], string> = {
  queued: "in outbox",
  sent: "sent",
  delivered: "delivered",
  read: "read",
  received: "",
};

function MessageRow({
  client,
  message,
  replied,
  onReply,
  onDelete,
}: {
  client: ChatClient;
  message: StoredMessage;
  replied: StoredMessage | undefined;
  onReply: () => void;
  onDelete: () => void;
}) {
  const mine = message.from === "me";
  return (
    <li
      className={`chat-message ${mine ? "chat-mine" : "chat-theirs"}`}
      data-testid="message"
      data-id={message.id}
      data-from={message.from}
      data-status={message.status}
    >
      {replied && (
        <p className="chat-quote small-print">↪ {(replied.text ?? replied.image?.name ?? "").slice(0, 80)}</p>
      )}
      {message.text !== undefined && (
        <p className="chat-text" data-testid="message-text">
          {message.text}
        </p>
      )}
      {message.image && <StoredImage client={client} message={message} />}
      <p className="chat-meta small-print">
        <time dateTime={new Date(message.at).toISOString()}>
          {new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
        </time>
        {mine && (
          <span data-testid="message-status" className={`chat-status chat-status-${message.status}`}>
            {" "}
            · {STATUS_TEXT[message.status]}
          </span>
        )}{" "}
        <button type="button" className="link-button" onClick={onReply}>
          Reply
        </button>{" "}
        <button type="button" className="link-button" data-testid="delete-message" onClick={onDelete}>
          Delete
        </button>
      </p>
    </li>
  );
}

function StoredImage({ client, message }: { client: ChatClient; message: StoredMessage }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    let made: string | undefined;
    let live = true;
    void client.image(message.id).then((bytes) => {
      if (!bytes || !live) return;
      made = URL.createObjectURL(new Blob([bytes], { type: message.image?.type ?? "application/octet-stream" }));
      setUrl(made);
    });
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [client, message.id, message.image?.type]);
  return url ? (
    <img className="chat-image" src={url} alt={message.image?.name ?? "image"} data-testid="message-image" />
  ) : (
    <p className="muted small-print">image {message.image?.name}</p>
  );
}
