// A digit drawn on a canvas, as the digits model's input: the way the UCI
// optdigits set (scikit-learn's `load_digits`, which the model was trained
// on) was made. The ink is cropped to its bounding box, scaled to fit a
// 32×32 bitmap (height-filling, centred), and each 4×4 block's count of
// inked pixels (0..16) becomes one of the 8×8 values.

/** Side of the bitmap the blocks are counted on. */
const BITMAP = 32;
const BLOCK = 4;
/** Alpha (0..255) from which a canvas pixel counts as ink. */
const INK = 64;

export interface InkBox {
  left: number;
  top: number;
  right: number; // exclusive
  bottom: number; // exclusive
}

/** The bounding box of the ink in an alpha channel, or null for an empty drawing. */
export function inkBox(alpha: ArrayLike<number>, width: number, height: number): InkBox | null {
  let left = width, top = height, right = 0, bottom = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (alpha[y * width + x]! >= INK) {
        left = Math.min(left, x);
        right = Math.max(right, x + 1);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y + 1);
      }
    }
  }
  return right > left ? { left, top, right, bottom } : null;
}

/**
 * The 64 values (row-major, each 0..16) of a drawing given as one alpha
 * value per pixel (0 blank, 255 fully inked); null when nothing is drawn.
 */
export function digitFromAlpha(alpha: ArrayLike<number>, width: number, height: number): number[] | null {
  const box = inkBox(alpha, width, height);
  if (!box) return null;
  const boxW = box.right - box.left;
  const boxH = box.bottom - box.top;
  // Scale the larger side to the bitmap; a thin stroke (a "1") stays thin and centred.
  const scale = BITMAP / Math.max(boxW, boxH);
  const drawnW = boxW * scale;
  const drawnH = boxH * scale;
  const offsetX = (BITMAP - drawnW) / 2;
  const offsetY = (BITMAP - drawnH) / 2;
  const bitmap = new Uint8Array(BITMAP * BITMAP);
  for (let by = 0; by < BITMAP; by++) {
    for (let bx = 0; bx < BITMAP; bx++) {
      // The source area this bitmap pixel covers; inked if any ink is in it.
      const x0 = box.left + (bx - offsetX) / scale;
      const y0 = box.top + (by - offsetY) / scale;
      const x1 = x0 + 1 / scale;
      const y1 = y0 + 1 / scale;
      if (x1 <= box.left || y1 <= box.top || x0 >= box.right || y0 >= box.bottom) continue;
      bitmap[by * BITMAP + bx] = covers(alpha, width, x0, y0, x1, y1, box) ? 1 : 0;
    }
  }
  const values: number[] = [];
  for (let row = 0; row < BITMAP / BLOCK; row++) {
    for (let col = 0; col < BITMAP / BLOCK; col++) {
      let count = 0;
      for (let y = 0; y < BLOCK; y++) {
        for (let x = 0; x < BLOCK; x++) count += bitmap[(row * BLOCK + y) * BITMAP + col * BLOCK + x]!;
      }
      values.push(count);
    }
  }
  return values;
}

/** Whether at least a third of the source pixels in [x0, x1) × [y0, y1) are inked. */
function covers(
  alpha: ArrayLike<number>,
  width: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  box: InkBox,
): boolean {
  const left = Math.max(box.left, Math.floor(x0));
  const top = Math.max(box.top, Math.floor(y0));
  const right = Math.min(box.right, Math.ceil(x1));
  const bottom = Math.min(box.bottom, Math.ceil(y1));
  let inked = 0, all = 0;
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      all++;
      if (alpha[y * width + x]! >= INK) inked++;
    }
  }
  return all > 0 && inked * 3 >= all;
}

/** Whether a model takes an 8×8 float image (the digits classifier's input shape). */
export function takesDigitImage(spec: { dtype: string; shape: readonly number[] }): boolean {
  const count = spec.shape.reduce((a, d) => a * (d === -1 ? 1 : d), 1);
  return spec.dtype === "float32" && count === 64;
}
