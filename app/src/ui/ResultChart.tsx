import { decodeTensors, type Tensor } from "../sibyl/encoding.js";

/** An output's first tensor: a bar per value, the largest marked (the predicted class). */
export function ResultChart({ output, label }: { output: Uint8Array; label: string }) {
  let tensor: Tensor | undefined;
  try {
    tensor = decodeTensors(output)[0];
  } catch {
    return <p className="muted">The output is not a canonical tensor encoding.</p>;
  }
  if (!tensor || tensor.values.length === 0) return null;
  const values = tensor.values;
  const top = values.indexOf(Math.max(...values));
  const max = Math.max(...values.map(Math.abs), Number.MIN_VALUE);
  const probabilities = tensor.dtype.startsWith("float") && values.every((v) => v >= 0 && v <= 1);
  return (
    <figure className="result" data-testid={`result-${label}`}>
      <figcaption>
        {probabilities ? (
          <>
            Class <strong data-testid="predicted-class">{top}</strong> (p = {values[top]!.toFixed(4)})
          </>
        ) : (
          <>
            {tensor.name || "output"} {tensor.dtype} [{tensor.dims.join(" × ")}]: largest at index{" "}
            <strong data-testid="predicted-class">{top}</strong>
          </>
        )}
      </figcaption>
      {values.length <= 32 ? (
        <div className="bars" role="img" aria-label={`${label} values`}>
          {values.map((v, i) => (
            <div key={i} className={`bar${i === top ? " top" : ""}`}>
              <span className="index">{i}</span>
              <span className="track">
                <span className="fill" style={{ width: `${(Math.abs(v) / max) * 100}%` }} />
              </span>
              <span className="value">{probabilities ? v.toFixed(4) : String(v)}</span>
            </div>
          ))}
        </div>
      ) : (
        <code>[{values.slice(0, 32).join(", ")}, …]</code>
      )}
    </figure>
  );
}
