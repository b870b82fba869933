//! `sibyl`: run an oracle node, register models and operators, and pay for
//! inferences, with the Solana CLI's habits (`-u`, `-k`). Every error a user
//! can cause ends in one `error:` line and a non-zero exit.
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    // A blocking thread still busy (a model run asked to stop, a file being
    // read) does not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}
