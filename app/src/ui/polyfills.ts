// web3.js and Anchor expect Node's Buffer; browsers have none. Imported first by main.tsx.
import { Buffer } from "buffer";

globalThis.Buffer ??= Buffer;
