//! The server's configuration file (TOML, `--config FILE` or `SIAP_CONFIG`): one documented place for
//! what a city sets once — where to listen, where the data lives, the face models, retention, log
//! format — and the **device policy** the server signs and hands to every phone at registration
//! (`[device]`: face and liveness required, clock tolerance, upload batch).
//!
//! Precedence, highest first: a command-line option, its environment variable, the file, the
//! default. An unknown key is an error naming it (a misspelt `require_liveness` must not silently
//! leave the default in force). Secrets stay out of the file: the admin token comes from
//! `SIAP_ADMIN_TOKEN` or `<data_dir>/admin-token`, the database password from the URL's environment
//! variable. `server/siap-server.example.toml` is the documented example; a test parses it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use siap_core::sync::protocol::DeviceConfig;

use crate::ops::LogFormat;

/// The file's contents; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Data directory (SQLite database, server key, admin token, photo files).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; SQLite in the data directory when absent.
    pub database_url: Option<String>,
    /// Directory of the face models: the server then re-checks faces and liveness itself.
    pub face_models: Option<PathBuf>,
    /// Days face crops and liveness transcripts of settled check-ins are kept.
    pub face_retention_days: Option<u32>,
    /// `json` or `text`.
    pub log_format: Option<LogFormat>,
    /// Large bodies (record batches, photo chunks) read at once, at most.
    pub max_heavy_requests: Option<usize>,
    /// The policy handed to devices.
    #[serde(default)]
    pub device: DevicePolicy,
}

/// `[device]`: the city's policy, signed into every registration answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePolicy {
    /// Records per upload request (1-5000).
    pub batch_size: Option<u32>,
    /// Whether check-in selfies are uploaded.
    pub upload_selfies: Option<bool>,
    /// Tolerance between the phone's clock and trusted time before `clock_skew`, ms (0-3,600,000).
    pub skew_tolerance_ms: Option<i64>,
    /// A check-in needs a face.
    pub require_face: Option<bool>,
    /// The face needs a liveness answer.
    pub require_liveness: Option<bool>,
    /// An enrollment needs a passed liveness answer.
    pub require_enrollment_liveness: Option<bool>,
}

impl FileConfig {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let cfg: FileConfig = toml::from_str(&text)
            .with_context(|| format!("configuration file {}", path.display()))?;
        cfg.device.check()?;
        Ok(cfg)
    }
}

impl DevicePolicy {
    fn check(&self) -> anyhow::Result<()> {
        if self.batch_size.is_some_and(|b| !(1..=5000).contains(&b)) {
            anyhow::bail!("[device] batch_size must be 1 to 5000");
        }
        if self
            .skew_tolerance_ms
            .is_some_and(|s| !(0..=3_600_000).contains(&s))
        {
            anyhow::bail!("[device] skew_tolerance_ms must be 0 to 3600000");
        }
        Ok(())
    }

    /// Applies the keys that are set onto `c`.
    pub fn apply(&self, c: &mut DeviceConfig) {
        if let Some(v) = self.batch_size {
            c.batch_size = v;
        }
        if let Some(v) = self.upload_selfies {
            c.upload_selfies = v;
        }
        if let Some(v) = self.skew_tolerance_ms {
            c.skew_tolerance_ms = v;
        }
        if let Some(v) = self.require_face {
            c.require_face = v;
        }
        if let Some(v) = self.require_liveness {
            c.require_liveness = v;
        }
        if let Some(v) = self.require_enrollment_liveness {
            c.require_enrollment_liveness = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_a_valid_configuration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("siap-server.example.toml");
        let cfg = FileConfig::read(&path).unwrap();
        assert!(cfg.listen.is_some() && cfg.device.require_liveness == Some(true));
        let mut device = DeviceConfig::default();
        cfg.device.apply(&mut device);
        assert!(
            device.require_face && device.require_liveness && device.require_enrollment_liveness
        );
    }

    #[test]
    fn a_misspelt_or_out_of_range_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[device]\nrequire_livenes = false\n").unwrap();
        let e = format!("{:#}", FileConfig::read(&path).unwrap_err());
        assert!(e.contains("require_livenes"), "{e}");
        std::fs::write(&path, "[device]\nbatch_size = 0\n").unwrap();
        assert!(FileConfig::read(&path).is_err());
        std::fs::write(&path, "listen = \"not an address\"\n").unwrap();
        assert!(FileConfig::read(&path).is_err());
    }
}
