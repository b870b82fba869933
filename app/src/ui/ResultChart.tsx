import { decodeTensors, type Tensor } from "../sibyl/encoding.js";

/** Every tensor of an output, in graph order: a bar per value, the largest marked (the first tensor's is the predicted class). */
export function ResultChart({ output, label }: { output: Uint8Array; label: string }) {
  let tensors: Tensor[];
  try {
    tensors = decodeTensors(output);
  } catch {
    return <p className="muted">The output is not a canonical tensor encoding.</p>;
  }
  if (tensors.length === 1 && tensors[0]) return <TensorChart tensor={tensors[0]} label={label} testId={`result-${label}`} />;
  return (
    <div className="results" data-testid={`result-${label}`}>
      {tensors.map((tensor, i) => (
        <TensorChart key={tensor.name} tensor={tensor} label={`${label} ${tensor.name}`} first={i === 0} />
      ))}
    </div>
  );
}

function TensorChart({
  tensor,
  label,
  testId,
  first = true,
}: {
  tensor: Tensor;
  label: string;
  testId?: string;
  first?: boolean;
}) {
  if (tensor.values.length === 0) {
    return (
      <figure className="result" data-testid={testId}>
        <figcaption>
          {tensor.name && `${tensor.name}: `}
          {tensor.dtype} [{tensor.dims.join(" × ")}]: no values
        </figcaption>
      </figure>
    );
  }
  const values = tensor.values;
  const top = values.indexOf(Math.max(...values));
  const max = Math.max(...values.map(Math.abs), Number.MIN_VALUE);
  const probabilities = tensor.dtype.startsWith("float") && values.every((v) => v >= 0 && v <= 1);
  return (
    <figure className="result" data-testid={testId}>
      <figcaption>
        {tensor.name && `${tensor.name}: `}
        {probabilities && values.length > 1 ? (
          <>
            Class <strong data-testid={first ? "predicted-class" : undefined}>{top}</strong> (p = {values[top]!.toFixed(4)})
          </>
        ) : values.length === 1 ? (
          <>
            {tensor.dtype} [{tensor.dims.join(" × ")}] = <strong data-testid={first ? "predicted-class" : undefined}>{values[0]}</strong>
          </>
        ) : (
          <>
            {tensor.dtype} [{tensor.dims.join(" × ")}]: largest at index <strong data-testid={first ? "predicted-class" : undefined}>{top}</strong>
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
