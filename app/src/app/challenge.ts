// The output a challenger stands behind, in the committed output's layout
// (same tensor name, dtype and dims), which the verifiers' comparison
// requires. For a top-k model a class is enough: its one-hot scores have
// that class on top.
import { decodeTensors, encodeTensors, EncodingError } from "../sibyl/encoding.js";

/** The committed output with its (single) tensor's values replaced by `values`. */
export function outputWithValues(committed: Uint8Array, values: number[]): Uint8Array {
  const tensors = decodeTensors(committed);
  if (tensors.length !== 1) throw new EncodingError("only single-tensor outputs can be challenged from the app; use the `sibyl` CLI");
  const [tensor] = tensors as [(typeof tensors)[0]];
  if (values.length !== tensor.values.length) {
    throw new EncodingError(`the output has ${tensor.values.length} values; you gave ${values.length}`);
  }
  return encodeTensors([{ ...tensor, values }]);
}

/** Scores that put `klass` first: 1 for it, 0 for every other class. */
export function oneHotOutput(committed: Uint8Array, klass: number): Uint8Array {
  const [tensor] = decodeTensors(committed);
  if (!tensor) throw new EncodingError("the committed output is empty");
  if (!Number.isInteger(klass) || klass < 0 || klass >= tensor.values.length) {
    throw new EncodingError(`class ${klass} is not one of 0..${tensor.values.length - 1}`);
  }
  const committedTop = tensor.values.indexOf(Math.max(...tensor.values));
  if (klass === committedTop) {
    throw new EncodingError(`class ${klass} is what the operator committed; a challenge must claim a different class`);
  }
  return outputWithValues(committed, tensor.values.map((_, i) => (i === klass ? 1 : 0)));
}
