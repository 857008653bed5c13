/** One grid cell: the decrypted thumbnail, or a placeholder naming the kind of file. */
import { useEffect, useState } from "react";
import { displayKind, openBlob, type OpenPhoto } from "../../lib/photos.ts";
import { useVault } from "../context.ts";
import { href } from "../router.ts";

interface Props {
  album: string;
  photo: OpenPhoto;
  keys: CryptoKey[];
}

export function Thumb({ album, photo, keys }: Props) {
  const { api } = useVault();
  const [url, setUrl] = useState<string>();
  const [failed, setFailed] = useState(false);
  const thumb = photo.view.thumb;

  useEffect(() => {
    if (!thumb) return;
    const controller = new AbortController();
    let created: string | undefined;
    openBlob(api, thumb, keys, "image/webp", controller.signal).then(
      (blob) => {
        if (controller.signal.aborted) return;
        created = URL.createObjectURL(blob);
        setUrl(created);
      },
      () => {
        if (!controller.signal.aborted) setFailed(true);
      },
    );
    return () => {
      controller.abort();
      if (created) URL.revokeObjectURL(created);
    };
  }, [api, thumb, keys]);

  const name = photo.meta?.name ?? "(name cannot be opened)";
  const kind = displayKind(photo.meta);
  return (
    <li className="thumb" data-testid="photo-thumb" data-photo-id={photo.view.id} data-name={name}>
      <a href={href({ page: "photo", album, photo: photo.view.id })} title={name}>
        {url ? (
          <img src={url} alt={name} data-testid="thumb-image" />
        ) : (
          <span
            className={`placeholder placeholder-${kind}`}
            data-testid="thumb-placeholder"
            data-loading={thumb && !failed ? "true" : "false"}
          >
            {thumb && !failed ? "…" : kind === "video" ? "▶ video" : kind === "image" ? "image" : fileLabel(name)}
          </span>
        )}
        <span className="thumb-name">{name}</span>
      </a>
    </li>
  );
}

function fileLabel(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toUpperCase() : "file";
}
