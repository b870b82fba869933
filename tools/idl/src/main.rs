//! `sibyl-idl [OUT]`: builds the program's IDL through anchor-lang's
//! `idl-build` feature and its `__anchor_private_print_idl` test hook (what
//! `anchor idl build` runs) and writes it to OUT (default
//! `target/idl/sibyl.json`). `sibyl-idl --check COMMITTED` fails if the
//! committed IDL differs from a fresh build.
use anchor_lang_idl::build::IdlBuilder;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let args: Vec<String> = std::env::args().skip(1).collect();
    // anchor-lang-idl re-invokes cargo with `+$RUSTUP_TOOLCHAIN` when that is
    // set (as it is inside `cargo run`); the workspace's toolchain is the default one.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    let idl = IdlBuilder::new()
        .program_path(root.join("programs/sibyl"))
        .build()
        .context("building the IDL (cargo test __anchor_private_print_idl --features idl-build)")?;
    let json = serde_json::to_string_pretty(&idl)? + "\n";
    let out = root.join("target/idl/sibyl.json");
    std::fs::create_dir_all(out.parent().unwrap())?;
    std::fs::write(&out, &json)?;
    println!("wrote {}", out.display());
    if let [flag, committed] = args.as_slice() {
        if flag == "--check" {
            let current = std::fs::read_to_string(committed)
                .with_context(|| format!("reading {committed}"))?;
            if current != json {
                bail!("{committed} is stale: run `make idl` and commit it");
            }
            println!("{committed} is current");
        }
    }
    Ok(())
}
