// The album grid's rows (PagedGrid.tsx), kept apart from React so they can be tested in Node.

/** A tile's least width and the gap between tiles, in rem (the `.grid` of styles.css). */
const TILE_REM = 9;
const GAP_REM = 0.75;

/**
 * The grid's rows for a width in px: as many columns as CSS's `repeat(auto-fill, minmax(9rem, 1fr))`
 * with a 0.75rem gap would make, and a row's estimated height (a square tile, the line of where it
 * is stored, the file name when shown, and the gap below), until the row is drawn and measured.
 */
export function gridRows(width: number, rem: number, showNames: boolean): { columns: number; estimate: number } {
  const gap = GAP_REM * rem;
  const columns = Math.max(1, Math.floor((width + gap) / (TILE_REM * rem + gap)));
  const tile = width > 0 ? (width - (columns - 1) * gap) / columns : TILE_REM * rem;
  return { columns, estimate: Math.round(tile + (showNames ? 4.5 : 3.3) * rem + gap) };
}
