//! `siap serve`: runs the reference sync server (SQLite in a data directory by default, PostgreSQL
//! with `--database-url`), with the same options and start-up as the `siap-server` binary.

pub use siap_server::launch::ServeArgs;

/// Runs the server until Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(siap_server::launch::serve(args))
}
