/** The thumbnails: everything the people here hold, with who holds it and what this tab holds. */
import { useMemo } from "react";
import { base64 } from "@scure/base";
import { describePullFailure, formatBytes, type GalleryItem } from "../lib/gallery.ts";

interface Props {
  items: GalleryItem[];
  onOpen: (id: string) => void;
  onBurn: (id: string) => void;
}

export type ItemState = "yours" | "pulled" | "pulling" | "available";

export function itemState(item: GalleryItem): ItemState {
  if (item.held) return item.held;
  return item.pull ? "pulling" : "available";
}

export function itemStatus(item: GalleryItem): string {
  const others = item.holders === 1 ? "1 other" : `${item.holders} others`;
  switch (itemState(item)) {
    case "yours":
      return item.holders > 0 ? `Yours · also with ${others}` : "Yours";
    case "pulled":
      return item.holders > 0 ? `Pulled · also with ${others}` : "Pulled · only you hold it";
    case "pulling": {
      const pct = item.pull && item.pull.size > 0 ? Math.floor((item.pull.received / item.pull.size) * 100) : 0;
      return `Pulling from ${item.pull?.fromNick ?? "a peer"} · ${pct}%`;
    }
    case "available":
      return `Available from ${item.holders}`;
  }
}

export function GalleryGrid({ items, onOpen, onBurn }: Props) {
  if (items.length === 0) {
    return (
      <p className="muted gallery-empty" data-testid="gallery-empty">
        No images here right now. Add some, or wait for others to.
      </p>
    );
  }
  return (
    <ul className="gallery-grid" data-testid="gallery-grid">
      {items.map((item) => (
        <Tile key={item.id} item={item} onOpen={onOpen} onBurn={onBurn} />
      ))}
    </ul>
  );
}

function Tile({
  item,
  onOpen,
  onBurn,
}: {
  item: GalleryItem;
  onOpen: (id: string) => void;
  onBurn: (id: string) => void;
}) {
  const src = useMemo(() => `data:image/jpeg;base64,${base64.encode(item.thumb)}`, [item.thumb]);
  const state = itemState(item);
  const total = item.holders + (item.held ? 1 : 0);
  const names = [...(item.held ? ["you"] : []), ...item.holderNames].join(", ");
  return (
    <li
      className={`gallery-item gallery-item-${state}`}
      data-testid="gallery-item"
      data-id={item.id}
      data-state={state}
      data-holders={item.holders}
    >
      <button
        type="button"
        className="gallery-thumb"
        data-testid="gallery-item-open"
        onClick={() => onOpen(item.id)}
        aria-label={`${state === "available" ? "Pull and view" : "View"} image ${item.id.slice(0, 8)}`}
      >
        <img src={src} alt="" loading="lazy" />
        {item.pull && (
          <progress
            className="gallery-thumb-progress"
            data-testid="gallery-item-progress"
            max={item.pull.size}
            value={item.pull.received}
          />
        )}
      </button>
      <div className="gallery-item-meta">
        <span className={`gallery-badge badge-${state}`} data-testid="gallery-item-status">
          {itemStatus(item)}
        </span>
        <span className="muted gallery-item-facts">
          {formatBytes(item.size)} ·{" "}
          <span title={`Held by ${names}`} data-testid="gallery-item-holders">
            {total} {total === 1 ? "holder" : "holders"}
          </span>
        </span>
      </div>
      {item.error && (
        <p className="gallery-item-error" role="alert" data-testid="gallery-item-error">
          {describePullFailure(item.error)}
        </p>
      )}
      {item.held && (
        <button
          type="button"
          className="small danger quiet gallery-burn"
          data-testid="gallery-item-burn"
          onClick={() => onBurn(item.id)}
        >
          Burn
        </button>
      )}
    </li>
  );
}
