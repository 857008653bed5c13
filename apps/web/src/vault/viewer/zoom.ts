/**
 * The viewer's geometry, pure: how a picture fits the stage, zooming about a point, panning within
 * bounds, and telling a swipe or a double tap from other pointer movements. The component applies
 * the result as `translate(x, y) scale(scale)` on the fitted picture, centred in the stage.
 *
 * Coordinates are CSS pixels relative to the stage's centre; `scale` 1 is "fit", so the picture's
 * on-screen size is `fitted × scale`.
 */

export interface Size {
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface View {
  scale: number;
  x: number;
  y: number;
}

export const FIT: View = { scale: 1, x: 0, y: 0 };

/** How far past "fit" the viewer zooms at least, and at most. */
export const MIN_MAX_SCALE = 4;
export const MAX_MAX_SCALE = 32;
/** One step of the zoom buttons and keys. */
export const ZOOM_STEP = 1.5;
/** Where a double click or double tap on a fitted picture goes (times fit), unless 1:1 is closer. */
export const DOUBLE_TAP_SCALE = 2.5;

/**
 * The picture's size at scale 1: contained in the stage, never blown up past its own pixels when
 * those are known (`natural`), kept in proportion.
 */
export function fitSize(natural: Size, stage: Size): Size {
  if (natural.width <= 0 || natural.height <= 0 || stage.width <= 0 || stage.height <= 0) {
    return { width: 0, height: 0 };
  }
  const ratio = Math.min(1, stage.width / natural.width, stage.height / natural.height);
  return { width: natural.width * ratio, height: natural.height * ratio };
}

/**
 * The largest scale: enough to see the original's pixels twice their size, and at least
 * MIN_MAX_SCALE, at most MAX_MAX_SCALE.
 */
export function maxScale(natural: Size, fitted: Size): number {
  if (fitted.width <= 0) return MIN_MAX_SCALE;
  const oneToOne = natural.width / fitted.width;
  return Math.min(MAX_MAX_SCALE, Math.max(MIN_MAX_SCALE, oneToOne * 2));
}

/** The scale at which one pixel of the original is one CSS pixel. */
export function oneToOneScale(natural: Size, fitted: Size): number {
  return fitted.width > 0 ? natural.width / fitted.width : 1;
}

/**
 * Keep the picture where it covers the stage: a side smaller than the stage is centred, a larger
 * one may move only until its edge meets the stage's.
 */
export function clampView(view: View, fitted: Size, stage: Size, max: number): View {
  const scale = Math.min(max, Math.max(1, view.scale));
  const limitX = Math.max(0, (fitted.width * scale - stage.width) / 2);
  const limitY = Math.max(0, (fitted.height * scale - stage.height) / 2);
  return { scale, x: clamp(view.x, -limitX, limitX), y: clamp(view.y, -limitY, limitY) };
}

/**
 * Zoom to `scale` keeping the picture's point under `at` (stage-centred) where it is, then clamp.
 * Zooming back to 1 therefore always ends centred.
 */
export function zoomTo(view: View, scale: number, at: Point, fitted: Size, stage: Size, max: number): View {
  const target = Math.min(max, Math.max(1, scale));
  const ratio = target / view.scale;
  return clampView(
    { scale: target, x: at.x - (at.x - view.x) * ratio, y: at.y - (at.y - view.y) * ratio },
    fitted,
    stage,
    max,
  );
}

/** Move by a pointer's drag, clamped. */
export function panBy(view: View, delta: Point, fitted: Size, stage: Size, max: number): View {
  return clampView({ scale: view.scale, x: view.x + delta.x, y: view.y + delta.y }, fitted, stage, max);
}

/** A wheel's vertical delta (pixels) as a zoom factor: smooth for trackpads, ~1.2 per mouse notch. */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const pixels = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-clamp(pixels, -200, 200) * 0.002);
}

/**
 * Where a double click or tap goes: back to fit when zoomed in, else in (to 1:1 when the original
 * has more pixels than DOUBLE_TAP_SCALE shows, never past the maximum).
 */
export function doubleTapScale(view: View, natural: Size, fitted: Size, max: number): number {
  if (view.scale > 1.01) return 1;
  return Math.min(max, Math.max(DOUBLE_TAP_SCALE, Math.min(oneToOneScale(natural, fitted), MIN_MAX_SCALE)));
}

/** A pinch: the scale the fingers' spread asks for, from the spread and scale it started with. */
export function pinchScale(startScale: number, startDistance: number, distance: number): number {
  return startDistance > 0 ? startScale * (distance / startDistance) : startScale;
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

export function midpoint(a: Point, b: Point): Point {
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

/** How far (CSS px) a finger must travel sideways, at least, for a swipe. */
export const SWIPE_DISTANCE = 50;
/** A quick flick counts from this speed (px/ms) even when shorter. */
export const SWIPE_SPEED = 0.5;

/**
 * What a one-finger drag on a fitted picture meant: "next" (swiped left), "previous" (right),
 * "close" (pulled down), or nothing (too short, too slow, or mostly diagonal).
 */
export function swipeAction(delta: Point, elapsedMs: number): "next" | "previous" | "close" | undefined {
  const ax = Math.abs(delta.x);
  const ay = Math.abs(delta.y);
  const speed = elapsedMs > 0 ? Math.max(ax, ay) / elapsedMs : 0;
  const far = (d: number) => d >= SWIPE_DISTANCE || (d >= SWIPE_DISTANCE / 2 && speed >= SWIPE_SPEED);
  if (ax > ay * 1.5 && far(ax)) return delta.x < 0 ? "next" : "previous";
  if (ay > ax * 1.5 && delta.y > 0 && ay >= SWIPE_DISTANCE * 2) return "close";
  return undefined;
}

/** Two taps this close in time (ms) and space (px) are a double tap. */
export const DOUBLE_TAP_MS = 300;
export const DOUBLE_TAP_SLOP = 30;

export interface Tap {
  at: Point;
  time: number;
}

export function isDoubleTap(previous: Tap | undefined, tap: Tap): boolean {
  return (
    previous !== undefined &&
    tap.time - previous.time <= DOUBLE_TAP_MS &&
    tap.time >= previous.time &&
    distance(previous.at, tap.at) <= DOUBLE_TAP_SLOP
  );
}

/** A tap did not move: less than this (px) between down and up. */
export const TAP_SLOP = 10;

/** `value` within [low, high]; a zero comes out as +0 (no "-0" in styles or comparisons). */
function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value)) + 0;
}
