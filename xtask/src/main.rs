//! `cargo xtask <task>`: project chores that are too long for shell scripts.

mod models;

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("models") => models::run_models(),
        _ => anyhow::bail!("usage: cargo xtask models"),
    }
}
