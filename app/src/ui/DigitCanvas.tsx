import { useEffect, useRef } from "react";
import { digitFromAlpha } from "../app/digits.js";

const SIZE = 280;

/** A square to draw a digit on with the mouse or a finger; reports its 8×8 values (null when blank). */
export function DigitCanvas({ onChange }: { onChange: (values: number[] | null) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const last = useRef<{ x: number; y: number } | null>(null);

  const context = () => canvas.current!.getContext("2d", { willReadFrequently: true })!;
  const report = () => {
    const { data } = context().getImageData(0, 0, SIZE, SIZE);
    const alpha = new Uint8Array(SIZE * SIZE);
    for (let i = 0; i < alpha.length; i++) alpha[i] = data[i * 4 + 3]!;
    onChange(digitFromAlpha(alpha, SIZE, SIZE));
  };
  const clear = () => {
    context().clearRect(0, 0, SIZE, SIZE);
    onChange(null);
  };
  // Once, at mount: a blank canvas reports "no digit".
  useEffect(clear, []);

  const point = (event: React.PointerEvent) => {
    const box = canvas.current!.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * SIZE) / box.width, y: ((event.clientY - box.top) * SIZE) / box.height };
  };
  const stroke = (to: { x: number; y: number }) => {
    const ctx = context();
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 18;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    const from = last.current ?? to;
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    last.current = to;
  };
  return (
    <div className="digit-canvas">
      <canvas
        ref={canvas}
        width={SIZE}
        height={SIZE}
        data-testid="digit-canvas"
        aria-label="Draw a digit here"
        onPointerDown={(event) => {
          drawing.current = true;
          last.current = null;
          canvas.current!.setPointerCapture(event.pointerId);
          stroke(point(event));
        }}
        onPointerMove={(event) => drawing.current && stroke(point(event))}
        onPointerUp={() => {
          drawing.current = false;
          report();
        }}
      />
      <button type="button" onClick={clear}>
        Clear
      </button>
    </div>
  );
}

/** The 8×8 values the model will see, drawn small. */
export function DigitPreview({ values }: { values: number[] }) {
  return (
    <div className="digit-preview" data-testid="digit-preview" aria-label="What the model sees (8×8, 0–16)">
      {values.map((v, i) => (
        <span key={i} style={{ opacity: v / 16 }} />
      ))}
    </div>
  );
}
