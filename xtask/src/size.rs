//! `cargo xtask size`: the size budget of the phone library (the stripped release cdylib, models
//! excluded, must stay < 12 MB), measured the way `bindings/README.md` ("Library size") describes.
//!
//! Builds `siap-ffi` as a cdylib with `cargo rustc --crate-type cdylib` (plain `cargo build` would skip
//! LTO, see that README), strips a copy and fails above the budget. The last step of `cargo xtask test`, so
//! that CI catches a dependency or feature change that regrows the library (a cold release build of tract
//! takes ~8 minutes on 2 cores; after a change to the core, ~2 minutes of fat-LTO linking).

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{ensure_tool, run_cmd, workspace_root};

/// Budget for the stripped host library, bytes (10^6-byte megabytes, as the README reports).
const BUDGET: u64 = 12_000_000;

/// Builds, strips and checks the library against [`BUDGET`].
pub fn run() -> anyhow::Result<()> {
    ensure_tool("strip", "binutils")?;
    run_cmd(Command::new("cargo").args([
        "rustc",
        "--release",
        "-p",
        "siap-ffi",
        "--lib",
        "--crate-type",
        "cdylib",
    ]))?;
    let root = workspace_root();
    let lib = root.join("target/release/libsiap_ffi.so");
    let stripped = root.join("target/release/libsiap_ffi.stripped.so");
    run_cmd(Command::new("strip").arg("-o").arg(&stripped).arg(&lib))?;
    let size = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .with_context(|| format!("{}", p.display()))
    };
    let (full, small) = (size(&lib)?, size(&stripped)?);
    println!(
        "libsiap_ffi.so: {full} bytes, stripped {small} bytes ({:.2} MB; budget {:.2} MB)",
        small as f64 / 1e6,
        BUDGET as f64 / 1e6
    );
    if small > BUDGET {
        bail!("the stripped library is over its budget");
    }
    Ok(())
}
