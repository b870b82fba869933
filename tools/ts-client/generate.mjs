#!/usr/bin/env node
// Generates app/src/generated/sibyl.ts, the TypeScript client types of the
// Sibyl program, from the committed Anchor IDL idl/sibyl.json.
//
//   node tools/ts-client/generate.mjs           write the file
//   node tools/ts-client/generate.mjs --check   fail if the committed file is stale
//   (--idl PATH / --out PATH override the two paths, relative to the repository root)
//
// Plain Node (>= 18), no dependencies. The output is a pure function of the
// IDL: keys keep the IDL's order, nothing depends on time or the machine.
//
// The type `Sibyl` is exactly what the Anchor CLI (`anchor build`, `anchor idl
// type`) writes to target/types/sibyl.ts: its `idl_ts` function (cli/src/lib.rs)
// serializes the IDL compactly, finds every `"key":"value"` pair whose value is
// one word (regex `"\w+":"([\w\d]+)"`), and, unless the value parses as a
// pubkey, replaces every `"value"` string in the whole document with its heck
// `to_lower_camel_case` form, then pretty-prints the result. That is the shape
// @coral-xyz/anchor's `Program` works with after its own runtime conversion
// (`convertIdlToCamelCase`), so `program.methods.*` and `program.account.*`
// are typed by it.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const GENERATOR = "tools/ts-client/generate.mjs";

// ---------------------------------------------------------------------------
// heck 0.5 `to_lower_camel_case` / `to_pascal_case`, character for character.

const isAlphanumeric = (c) => /[\p{Alphabetic}\p{N}]/u.test(c);
const isLowercase = (c) => /\p{Lowercase}/u.test(c);
const isUppercase = (c) => /\p{Uppercase}/u.test(c);

/** heck's `transform`: splits `s` into words the way heck does. */
function heckWords(s) {
  const words = [];
  for (const word of s.split(/[^\p{Alphabetic}\p{N}]/u)) {
    const chars = [...word];
    let init = 0; // index into `chars`
    let mode = "boundary";
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (i + 1 < chars.length) {
        const next = chars[i + 1];
        const nextMode = isLowercase(c) ? "lower" : isUppercase(c) ? "upper" : mode;
        if (nextMode === "lower" && isUppercase(next)) {
          words.push(chars.slice(init, i + 1).join(""));
          init = i + 1;
          mode = "boundary";
        } else if (mode === "upper" && isUppercase(c) && isLowercase(next)) {
          words.push(chars.slice(init, i).join(""));
          init = i;
          mode = "boundary";
        } else {
          mode = nextMode;
        }
      } else {
        words.push(chars.slice(init).join(""));
      }
    }
  }
  return words;
}

function heckLowercase(s) {
  const chars = [...s];
  return chars
    .map((c, i) => (c === "Σ" && i === chars.length - 1 ? "ς" : c.toLowerCase()))
    .join("");
}

function heckCapitalize(s) {
  const [first, ...rest] = [...s];
  return first === undefined ? "" : first.toUpperCase() + heckLowercase(rest.join(""));
}

export function toLowerCamelCase(s) {
  return heckWords(s)
    .map((w, i) => (i === 0 ? heckLowercase(w) : heckCapitalize(w)))
    .join("");
}

export function toPascalCase(s) {
  return heckWords(s).map(heckCapitalize).join("");
}

// ---------------------------------------------------------------------------
// `Pubkey::from_str`: at most 44 characters of base58 that decode to exactly 32 bytes.

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function isPubkey(s) {
  if (s.length > 44) return false;
  let n = 0n;
  let zeros = 0;
  let leading = true;
  for (const c of s) {
    const d = BASE58.indexOf(c);
    if (d < 0) return false;
    if (leading && d === 0) zeros++;
    else leading = false;
    n = n * 58n + BigInt(d);
  }
  const bytes = n === 0n ? 0 : n.toString(16).length + (n.toString(16).length % 2);
  return zeros + bytes / 2 === 32;
}

// ---------------------------------------------------------------------------
// The Anchor CLI's camelCase conversion of a whole IDL (see the header).

export function anchorCamelCaseIdl(idl) {
  const compact = JSON.stringify(idl);
  // Rust's `\w` is Unicode-aware; `[\w\d]` adds nothing to it.
  const w = String.raw`[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]`;
  const re = new RegExp(String.raw`"${w}+":"(${w}+)"`, "gu");
  let acc = compact;
  for (const m of compact.matchAll(re)) {
    const name = m[1];
    if (isPubkey(name)) continue;
    acc = acc.replaceAll(`"${name}"`, `"${toLowerCamelCase(name)}"`);
  }
  return JSON.parse(acc);
}

// ---------------------------------------------------------------------------
// Things derived from the IDL for pda.ts and the error lookup.

/** Every instruction account, composite groups flattened. */
function* flatAccounts(items) {
  for (const item of items) {
    if (Array.isArray(item.accounts)) yield* flatAccounts(item.accounts);
    else yield item;
  }
}

/**
 * The constant first seed of every PDA account in the IDL, by the account's
 * name as the IDL spells it. A name whose constant seed differs between
 * instructions is an error: pda.ts could not know which one to use.
 */
function pdaSeeds(idl) {
  const seeds = new Map();
  for (const ix of idl.instructions) {
    for (const acc of flatAccounts(ix.accounts)) {
      const first = acc.pda?.seeds?.[0];
      if (!first || first.kind !== "const" || acc.pda.program) continue;
      const seed = Buffer.from(first.value).toString("utf8");
      if (!/^[\x20-\x7e]+$/.test(seed)) continue;
      const seen = seeds.get(acc.name);
      if (seen !== undefined && seen !== seed) {
        throw new Error(
          `account \`${acc.name}\` has const seed "${seen}" in one instruction and "${seed}" in \`${ix.name}\``,
        );
      }
      seeds.set(acc.name, seed);
    }
  }
  return [...seeds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const str = (s) => JSON.stringify(s);

export function generate(idl, idlPath = "idl/sibyl.json") {
  if (!idl.address || !idl.metadata?.spec || !idl.instructions?.every((ix) => ix.discriminator)) {
    throw new Error(
      `${idlPath} is not a new-format (Anchor >= 0.30) IDL: it needs \`address\`, \`metadata.spec\` and instruction discriminators`,
    );
  }
  const name = idl.metadata.name;
  const typeName = toPascalCase(name);
  const camel = JSON.stringify(anchorCamelCaseIdl(idl), null, 2);
  const errors = idl.errors ?? [];
  const seeds = pdaSeeds(idl);

  const out = [];
  out.push(
    `// generated by ${GENERATOR} from ${idlPath} — do not edit.`,
    `// Regenerate with \`make idl\` (or \`npm run generate\` in app/); \`npm run check:client\` fails when this file is stale.`,
    ``,
    `/**`,
    ` * Program IDL in camelCase format in order to be used in JS/TS, exactly as`,
    ` * the Anchor CLI writes it to \`target/types/${name}.ts\`.`,
    ` */`,
    `export type ${typeName} = ${camel};`,
    ``,
    `/**`,
    ` * The same IDL as a value, for \`new Program<${typeName}>(IDL, provider)\`. Anchor`,
    ` * camelCases an IDL when it builds a \`Program\`; this one already is, so the`,
    ` * program's runtime IDL equals the one built from ${idlPath}.`,
    ` */`,
    `export const IDL: ${typeName} = ${camel};`,
    ``,
    `/** The program id (the IDL's \`address\`). */`,
    `export const PROGRAM_ADDRESS = ${str(idl.address)};`,
    ``,
    `/** The constant first seed of each PDA in the IDL, by account name as the IDL spells it. */`,
    `export const PDA_SEEDS = {`,
    ...seeds.map(([k, v]) => `  ${str(k)}: ${str(v)},`),
    `} as const;`,
    ``,
    `/** The program's custom error names, as the Rust enum and the program logs spell them. */`,
    `export type ${typeName}ErrorName =`,
    ...(errors.length ? errors.map((e, i) => `  | ${str(e.name)}${i === errors.length - 1 ? ";" : ""}`) : [`  never;`]),
    ``,
    `/** The program's custom errors by code (\`#[error_code]\`, from the IDL's \`errors\`). */`,
    `export const ${name.toUpperCase()}_ERRORS: Readonly<Record<number, { readonly name: ${typeName}ErrorName; readonly msg: string }>> = {`,
    ...errors.map((e) => `  ${e.code}: { name: ${str(e.name)}, msg: ${str(e.msg ?? "")} },`),
    `};`,
    ``,
  );
  return out.join("\n");
}

// ---------------------------------------------------------------------------

function main(argv) {
  let check = false;
  let idlRel = "idl/sibyl.json";
  let outRel = "app/src/generated/sibyl.ts";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") check = true;
    else if (a === "--idl") idlRel = argv[++i];
    else if (a === "--out") outRel = argv[++i];
    else {
      console.error(`usage: ${GENERATOR} [--check] [--idl PATH] [--out PATH]`);
      return 2;
    }
  }
  const idlPath = resolve(ROOT, idlRel);
  const outPath = resolve(ROOT, outRel);
  const idlName = relative(ROOT, idlPath).split("\\").join("/");
  const outName = relative(ROOT, outPath).split("\\").join("/");
  const text = generate(JSON.parse(readFileSync(idlPath, "utf8")), idlName);

  if (check) {
    let current;
    try {
      current = readFileSync(outPath, "utf8");
    } catch {
      current = undefined;
    }
    if (current === text) {
      console.log(`${outName} is current with ${idlName}`);
      return 0;
    }
    let where = "it is missing";
    if (current !== undefined) {
      const a = current.split("\n");
      const b = text.split("\n");
      let line = 0;
      while (line < a.length && line < b.length && a[line] === b[line]) line++;
      where = `first difference at line ${line + 1}`;
    }
    console.error(
      `${outName} is stale against ${idlName} (${where}): run \`make idl\` ` +
        `(or \`npm run generate\` in app/) and commit the result`,
    );
    return 1;
  }

  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, text);
  console.log(`wrote ${outName} from ${idlName}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
