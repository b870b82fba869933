// Decoding of the events Sibyl emits with `emit_cpi!`: each is an inner
// instruction the program sends to itself, whose data is Anchor's event tag,
// the event's discriminator and its Borsh body.
import { BorshCoder, type IdlEvents } from "@coral-xyz/anchor";
import { IDL, type Sibyl } from "../generated/sibyl.js";

/** `anchor_lang::event::EVENT_IX_TAG_LE`: `0x1d9acb512ea545e4` little-endian. */
export const EVENT_IX_TAG_LE = Uint8Array.of(0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d);

/** Every Sibyl event, with its (camelCase) name and decoded fields. */
export type SibylEventName = Sibyl["events"][number]["name"];
export type SibylEvent = {
  [N in SibylEventName]: { name: N; data: IdlEvents<Sibyl>[N] };
}[SibylEventName];

const coder = new BorshCoder(IDL);

/**
 * Decodes the data of a Sibyl self-invocation (an inner instruction of a
 * Sibyl transaction whose program is Sibyl). Returns null when the data is
 * not an event instruction or names no event of this IDL.
 */
export function decodeEventFromInnerIx(data: Uint8Array): SibylEvent | null {
  if (data.length < EVENT_IX_TAG_LE.length + 8) return null;
  for (let i = 0; i < EVENT_IX_TAG_LE.length; i++) {
    if (data[i] !== EVENT_IX_TAG_LE[i]) return null;
  }
  const body = data.subarray(EVENT_IX_TAG_LE.length);
  const event = coder.events.decode(Buffer.from(body).toString("base64"));
  return event as SibylEvent | null;
}
