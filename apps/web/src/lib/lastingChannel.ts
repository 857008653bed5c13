/**
 * A node's `/v1` over data channels that come back by themselves. When the channel to a node is
 * lost (the laptop changed networks, the node restarted, the relay hiccuped), a new one is opened
 * with backoff, and requests made meanwhile wait for it, so the vault on top stays mounted with its
 * state and upload queue. A request that was under way when its channel broke fails like an HTTP
 * request whose connection dropped; the caller retries it as it would over HTTP.
 */
import { ApiError, type ApiTransport, type BlobUploadOptions } from "./api.ts";

/** What the lasting channel needs of one channel (`NodeChannel` has it). */
export interface Channel extends ApiTransport {
  upload: NonNullable<ApiTransport["upload"]>;
  onClosed(handler: (error: Error) => void): () => void;
  close(): void;
}

export type LinkState<C> =
  | { status: "open"; channel: C }
  /** `attempt` counts from 1; the next try starts in `retryInMs`. */
  | { status: "reconnecting"; error: Error; attempt: number; retryInMs: number };

export interface LastingChannelOptions<C extends Channel> {
  /** Opens a fresh channel (hub connection included); rejects with why it could not. */
  open: () => Promise<C>;
  /** Told every change: a channel is open, or the link is down and being re-established. */
  onState?: (state: LinkState<C>) => void;
  /** How long a request waits for a channel before it fails. Default 30 s. */
  waitMs?: number;
  /** The delay before reconnection attempt `n` (1, 2, …). Default 1 s, doubling, at most 16 s. */
  backoffMs?: (attempt: number) => number;
}

const defaultBackoff = (attempt: number) => Math.min(16_000, 1000 * 2 ** (attempt - 1));

interface Waiter<C> {
  resolve: (channel: C) => void;
  reject: (error: Error) => void;
}

export class LastingChannel<C extends Channel> implements ApiTransport {
  private current: C | undefined;
  private readonly waiters = new Set<Waiter<C>>();
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly waitMs: number;
  private readonly backoffMs: (attempt: number) => number;

  private readonly options: LastingChannelOptions<C>;

  private constructor(options: LastingChannelOptions<C>, first: C) {
    this.options = options;
    this.waitMs = options.waitMs ?? 30_000;
    this.backoffMs = options.backoffMs ?? defaultBackoff;
    this.adopt(first);
  }

  /** Opens the first channel; its failure is the caller's (nothing was ever reached). */
  static async start<C extends Channel>(options: LastingChannelOptions<C>): Promise<LastingChannel<C>> {
    return new LastingChannel(options, await options.open());
  }

  /** The channel in use, or `undefined` while the link is being re-established. */
  get channelNow(): C | undefined {
    return this.current;
  }

  fetch = async (url: string, init?: RequestInit): Promise<Response> =>
    (await this.channel(init?.signal ?? undefined)).fetch(url, init);

  upload = async (url: string, body: Blob, options?: BlobUploadOptions): Promise<Response> =>
    (await this.channel(options?.signal)).upload(url, body, options);

  /** Stops for good: closes the channel, stops reconnecting, fails waiting requests. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.current?.close();
    this.current = undefined;
    const error = new ApiError(0, "aborted", "The connection was closed.");
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }

  private adopt(channel: C): void {
    this.current = channel;
    channel.onClosed((error) => this.lost(channel, error));
    this.options.onState?.({ status: "open", channel });
    for (const waiter of this.waiters) waiter.resolve(channel);
    this.waiters.clear();
  }

  private lost(channel: C, error: Error): void {
    if (this.stopped || channel !== this.current) return;
    this.current = undefined;
    channel.close();
    this.retry(1, error);
  }

  private retry(attempt: number, error: Error): void {
    const retryInMs = this.backoffMs(attempt);
    this.options.onState?.({ status: "reconnecting", error, attempt, retryInMs });
    this.retryTimer = setTimeout(() => {
      this.options.open().then(
        (channel) => {
          if (this.stopped) channel.close();
          else this.adopt(channel);
        },
        (failure: unknown) => {
          if (!this.stopped) this.retry(attempt + 1, failure instanceof Error ? failure : new Error(String(failure)));
        },
      );
    }, retryInMs);
  }

  /** The open channel, or the next one (at most `waitMs` from now, and until `signal` aborts). */
  private channel(signal?: AbortSignal): Promise<C> {
    if (this.current) return Promise.resolve(this.current);
    if (this.stopped) return Promise.reject(new ApiError(0, "aborted", "The connection was closed."));
    return new Promise<C>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter<C> = {
        resolve: (channel) => {
          done();
          resolve(channel);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new ApiError(
              0,
              "network",
              `The node could not be reached again within ${Math.round(this.waitMs / 1000)} s.`,
            ),
          ),
        this.waitMs,
      );
      const aborted = () => waiter.reject(new ApiError(0, "aborted", "The request was cancelled."));
      signal?.addEventListener("abort", aborted, { once: true });
      this.waiters.add(waiter);
    });
  }
}
