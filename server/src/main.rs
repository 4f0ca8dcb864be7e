//! `siap-server`: runs the reference sync server, or names an administrator (`create-admin`).

use clap::{Parser, Subcommand};
use siap_server::admins::Role;
use siap_server::launch::{ServeArgs, create_admin, serve};

/// SIAP reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates (or resets) a named administrator in the database the options name; the password is
    /// read as one line from standard input, never from an argument.
    CreateAdmin {
        /// Sign-in name (letters, digits, `.`, `_`, `-`, `@`).
        name: String,
        /// `city_admin`, `hr`, `permit_officer` or `auditor`.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of city_admin, hr, permit_officer, auditor".to_owned())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        None => rt.block_on(serve(args.serve)),
        Some(Command::CreateAdmin { name, role }) => rt.block_on(create_admin(
            &args.serve,
            &name,
            role,
            &mut std::io::stdin().lock(),
        )),
    }
}
