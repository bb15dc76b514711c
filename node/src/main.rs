//! The `kgnode` binary: parse the command line and hand over to [`kgnode::cli::run`].

use std::process::ExitCode;

use clap::Parser;
use kgnode::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse(), &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kgnode: {error}");
            ExitCode::FAILURE
        }
    }
}
