//! `cargo xtask models --nnef` runs this: writes the NNEF twin of every ONNX model in the directory given
//! as the only argument and prints the hashes to compile into `siap-core`.
//!
//! An example of the xtask package rather than part of the `cargo xtask` binary, so that tract's ONNX
//! parser (a dev-dependency here) is not compiled into the binary every `cargo xtask` call builds.

#[path = "../src/nnef.rs"]
mod nnef;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

fn write_nnef(dir: &std::path::Path) -> Result<()> {
    for spec in nnef::specs() {
        let tar = nnef::convert(dir, &spec)?;
        std::fs::write(dir.join(spec.file), &tar)
            .with_context(|| format!("writing {}", spec.file))?;
        let hash = nnef::sha256(&tar);
        let status = if hash == spec.sha256 {
            "matches the compiled-in hash"
        } else {
            "NEW: update core/src/face"
        };
        let diff = nnef::difference(dir, &spec, &tar)?;
        println!(
            "{} {hash} {} bytes ({status}); max |ONNX - NNEF| {diff:.1e}",
            spec.file,
            tar.len()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: nnef <models dir>");
        return ExitCode::from(2);
    };
    match write_nnef(&PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nnef: {e:#}");
            ExitCode::FAILURE
        }
    }
}
