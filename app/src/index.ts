export * from "./sibyl/client.js";
export * from "./sibyl/events.js";
export * from "./sibyl/pda.js";
export { IDL, PROGRAM_ADDRESS, SIBYL_ERRORS, type SibylErrorName } from "./generated/sibyl.js";
export * from "./sibyl/encoding.js";
