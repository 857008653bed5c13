/**
 * Chat's local-first storage: this browser's chat profile, its contacts (identity, name, the
 * 256-bit shared secret, when last seen), every conversation's history and its outbox, and the
 * images. Everything is kept in IndexedDB (`p2pos-chat`), each record sealed with AES-256-GCM under
 * one key that is generated here as a non-extractable `CryptoKey` and stored beside the records
 * (IndexedDB keeps `CryptoKey`s by structured clone): a script or a copy of the profile directory
 * reads ciphertext, and the key's bytes never exist outside the browser's crypto implementation.
 * The record's name is the additional data, so a record moved under another name does not open.
 *
 * The outbox is part of the history: a message typed while the contact is offline is stored with
 * status `queued` and goes out, oldest first, when a proven session opens (`outbox`).
 *
 * The backend is a small key-value interface so Vitest can run the sealing and the rules without a
 * browser (`memoryBackend`); the page uses `idbBackend`.
 */
import { createStore, del, get, keys, set, type UseStore } from "idb-keyval";
import { utf8DecodeStrict, utf8Encode } from "../lib/bytes.ts";
import { P2posError } from "../lib/errors.ts";
import { decodeB64u, encodeB64u } from "./protocol.ts";

export type StoreErrorKind = "corrupt" | "missing";
export class ChatStoreError extends P2posError<StoreErrorKind> {}

/** Where sealed records live. */
export interface KvBackend {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** IndexedDB database `p2pos-chat`, object store `kv`. */
export function idbBackend(): KvBackend {
  const store: UseStore = createStore("p2pos-chat", "kv");
  return {
    get: (key) => get(key, store),
    set: (key, value) => set(key, value, store),
    del: (key) => del(key, store),
    keys: async () => (await keys(store)).map(String),
  };
}

/** A backend in memory (tests; a browser without IndexedDB would lose everything on reload). */
export function memoryBackend(): KvBackend & { raw: Map<string, unknown> } {
  const raw = new Map<string, unknown>();
  return {
    raw,
    get: (key) => Promise.resolve(raw.get(key)),
    set: (key, value) => {
      raw.set(key, value);
      return Promise.resolve();
    },
    del: (key) => {
      raw.delete(key);
      return Promise.resolve();
    },
    keys: () => Promise.resolve([...raw.keys()]),
  };
}

/** This browser's chat settings. */
export interface ChatProfile {
  /** The name shown to others (1-64 characters). */
  name: string;
  /** Listed under "On this network" for neighbours (off: watch without being listed). */
  visible: boolean;
}

/** A saved contact. */
export interface SavedContact {
  /** Readable identity id, canonical. */
  id: string;
  name: string;
  /** The 256-bit shared secret, b64u. */
  secret: string;
  /** Unix ms when a proven session with it last opened (or closed). */
  lastSeen: number;
  addedAt: number;
  /** Rendezvous opt-in (meet in `rv:` names when the usual path fails). */
  rendezvous: boolean;
}

export type MessageStatus = "queued" | "sent" | "delivered" | "read" | "received";

/** One line of a conversation, either way. */
export interface StoredMessage {
  /** 16 bytes b64u, the wire id. */
  id: string;
  from: "me" | "them";
  /** The sender's clock, unix ms. */
  at: number;
  text?: string;
  image?: { name: string; type: string; size: number };
  re?: string;
  /** Mine: queued → sent → delivered → read. Theirs: received (`read` once this side showed it). */
  status: MessageStatus;
}

const KEY_RECORD = "key";
const PROFILE = "profile";
const CONTACTS = "contacts";
const chatKey = (contact: string) => `chat:${contact}`;
const imageKey = (id: string) => `img:${id}`;

interface Sealed {
  iv: Uint8Array<ArrayBuffer>;
  data: Uint8Array<ArrayBuffer>;
}

/** The sealed chat store; see the module doc. */
export class ChatStore {
  private readonly backend: KvBackend;
  private readonly key: CryptoKey;
  /** Writes run one after another, so a read-modify-write never loses another's update. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(backend: KvBackend, key: CryptoKey) {
    this.backend = backend;
    this.key = key;
  }

  /** Opens the store, making its non-extractable key the first time. */
  static async open(backend: KvBackend = idbBackend()): Promise<ChatStore> {
    let key = await backend.get(KEY_RECORD);
    if (!(key instanceof CryptoKey)) {
      key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      await backend.set(KEY_RECORD, key);
    }
    return new ChatStore(backend, key as CryptoKey);
  }

  async profile(): Promise<ChatProfile | undefined> {
    return this.read<ChatProfile>(PROFILE);
  }

  saveProfile(profile: ChatProfile): Promise<void> {
    return this.serial(() => this.write(PROFILE, profile));
  }

  /** Every contact, most recently seen first. */
  async contacts(): Promise<SavedContact[]> {
    const list = (await this.read<SavedContact[]>(CONTACTS)) ?? [];
    return list.sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /**
   * Adds a contact, or updates one with this id. A contact met again as a new contact (both sides
   * forgot, or one did) gets the new secret; its rendezvous choice and history stay.
   */
  saveContact(contact: SavedContact): Promise<void> {
    return this.serial(async () => {
      const list = (await this.read<SavedContact[]>(CONTACTS)) ?? [];
      const at = list.findIndex((c) => c.id === contact.id);
      if (at < 0) list.push(contact);
      else list[at] = { ...contact, addedAt: list[at]?.addedAt ?? contact.addedAt };
      await this.write(CONTACTS, list);
    });
  }

  /** Changes some fields of a saved contact (nothing when it is gone). */
  updateContact(id: string, patch: Partial<Omit<SavedContact, "id">>): Promise<void> {
    return this.serial(async () => {
      const list = (await this.read<SavedContact[]>(CONTACTS)) ?? [];
      const at = list.findIndex((c) => c.id === id);
      const found = list[at];
      if (found === undefined) return;
      list[at] = { ...found, ...patch };
      await this.write(CONTACTS, list);
    });
  }

  /** Forgets a contact and its whole conversation. */
  async deleteContact(id: string): Promise<void> {
    await this.deleteChat(id);
    await this.serial(async () => {
      const list = (await this.read<SavedContact[]>(CONTACTS)) ?? [];
      await this.write(
        CONTACTS,
        list.filter((c) => c.id !== id),
      );
    });
  }

  /** A conversation, oldest first. */
  async messages(contact: string): Promise<StoredMessage[]> {
    return (await this.read<StoredMessage[]>(chatKey(contact))) ?? [];
  }

  /** Adds a message (a second one with the same id is ignored: ids dedupe). */
  addMessage(contact: string, message: StoredMessage): Promise<void> {
    return this.serial(async () => {
      const list = await this.messages(contact);
      if (list.some((m) => m.id === message.id)) return;
      list.push(message);
      list.sort((a, b) => a.at - b.at);
      await this.write(chatKey(contact), list);
    });
  }

  /** Moves a message's status forward (queued → sent → delivered → read; never back). */
  setStatus(contact: string, id: string, status: MessageStatus): Promise<void> {
    return this.serial(async () => {
      const list = await this.messages(contact);
      const found = list.find((m) => m.id === id);
      if (found === undefined || !advances(found.status, status)) return;
      found.status = status;
      await this.write(chatKey(contact), list);
    });
  }

  /** Deletes one message (and its image) from this browser. */
  deleteMessage(contact: string, id: string): Promise<void> {
    return this.serial(async () => {
      const list = await this.messages(contact);
      await this.backend.del(imageKey(id));
      await this.write(
        chatKey(contact),
        list.filter((m) => m.id !== id),
      );
    });
  }

  /** Deletes a whole conversation (and its images) from this browser; the contact stays. */
  deleteChat(contact: string): Promise<void> {
    return this.serial(async () => {
      for (const message of await this.messages(contact)) {
        if (message.image) await this.backend.del(imageKey(message.id));
      }
      await this.backend.del(chatKey(contact));
    });
  }

  /** The messages waiting to be sent to `contact`, oldest first. */
  async outbox(contact: string): Promise<StoredMessage[]> {
    return pendingOutbox(await this.messages(contact));
  }

  putImage(id: string, bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      const sealed = await this.seal(imageKey(id), bytes);
      await this.backend.set(imageKey(id), sealed);
    });
  }

  async image(id: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const sealed = await this.backend.get(imageKey(id));
    return sealed === undefined ? undefined : this.open(imageKey(id), sealed);
  }

  /** Messages whose text or image name contains `query` (case-insensitive), newest first. */
  async search(query: string): Promise<{ contact: string; message: StoredMessage }[]> {
    const needle = query.trim().toLocaleLowerCase();
    if (needle === "") return [];
    const found: { contact: string; message: StoredMessage }[] = [];
    for (const key of await this.backend.keys()) {
      if (!key.startsWith("chat:")) continue;
      const contact = key.slice("chat:".length);
      for (const message of await this.messages(contact)) {
        const hay = (message.text ?? message.image?.name ?? "").toLocaleLowerCase();
        if (hay.includes(needle)) found.push({ contact, message });
      }
    }
    return found.sort((a, b) => b.message.at - a.message.at);
  }

  // -------------------------------------------------------------------------------------------

  private serial(step: () => Promise<void>): Promise<void> {
    const result = this.chain.then(step);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async read<T>(name: string): Promise<T | undefined> {
    const sealed = await this.backend.get(name);
    if (sealed === undefined) return undefined;
    return JSON.parse(utf8DecodeStrict(await this.open(name, sealed))) as T;
  }

  private async write(name: string, value: unknown): Promise<void> {
    await this.backend.set(name, await this.seal(name, utf8Encode(JSON.stringify(value))));
  }

  private async seal(name: string, plain: Uint8Array): Promise<Sealed> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: utf8Encode(name) },
      this.key,
      new Uint8Array(plain),
    );
    return { iv, data: new Uint8Array(data) };
  }

  private async open(name: string, sealed: unknown): Promise<Uint8Array<ArrayBuffer>> {
    const record = sealed as Partial<Sealed> | null;
    if (!(record?.iv instanceof Uint8Array) || !(record.data instanceof Uint8Array)) {
      throw new ChatStoreError("corrupt", `The stored record ${name} is not a sealed record.`);
    }
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: new Uint8Array(record.iv), additionalData: utf8Encode(name) },
          this.key,
          new Uint8Array(record.data),
        ),
      );
    } catch (error) {
      throw new ChatStoreError("corrupt", `The stored record ${name} does not open with this browser's key.`, {
        cause: error,
      });
    }
  }
}

const ORDER: Record<MessageStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3, received: 1 };

/** Whether a message's status may move from `from` to `to` (forward only; `received` → `read`). */
export function advances(from: MessageStatus, to: MessageStatus): boolean {
  if (from === "received") return to === "read";
  if (to === "received") return false;
  return ORDER[to] > ORDER[from];
}

/** My messages still to send, oldest first. */
export function pendingOutbox(messages: readonly StoredMessage[]): StoredMessage[] {
  return messages.filter((m) => m.from === "me" && m.status === "queued").sort((a, b) => a.at - b.at);
}

/** A contact's secret as bytes. */
export function secretBytes(contact: Pick<SavedContact, "secret">): Uint8Array<ArrayBuffer> {
  return decodeB64u(contact.secret, 32, "a contact's secret");
}

export function secretText(secret: Uint8Array): string {
  return encodeB64u(secret);
}
