//! `siap-server`: runs the reference sync server.

use clap::Parser;
use siap_server::launch::{ServeArgs, serve};

/// SIAP reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args.serve))
}
