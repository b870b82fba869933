//! `make demo` as a test: the whole story at 50 ms slots must end with every
//! request as expected and every token accounted for.
use std::process::Command;

#[test]
fn the_demo_ends_every_request_as_expected() {
    let output = Command::new(env!("CARGO_BIN_EXE_sibyl-demo"))
        .args(["--slot-ms", "50"])
        .env("RUST_LOG", "error")
        .output()
        .expect("sibyl-demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "finalized    predicted digit 2",
        "finalized    predicted digit 6",
        "committed    by operator C",
        "challenged   by operator B",
        "overturned   operator C slashed 4.000000",
        "byte for byte what Python onnxruntime computed",
        "every request ended as expected; tokens conserved to the base unit",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
}
