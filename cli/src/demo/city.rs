//! The city's side of the demo: the reference server on loopback, what its administrators do (publish
//! offices and staff, issue a registration code, decide on face enrollments) and its attendance
//! report at the end, with the server's verdict beside the phone's.

use std::path::Path;

use siap_core::Device;
use siap_core::enrollment::FaceDecisionKind;
use siap_core::reference::Reference;
use siap_core::sync::protocol::{Binding, Change};
use siap_server::faces::{DecisionRequest, FaceEnrollment};

use super::HOUR;

/// The embedded server and the administrator's handle on its state.
pub(super) struct City {
    running: siap_server::Running,
    state: siap_server::http::AppState,
}

impl City {
    /// Starts the server in `cfg`'s directory on a free loopback port.
    pub(super) async fn start(cfg: &siap_server::ServerConfig) -> anyhow::Result<City> {
        let running = siap_server::spawn(cfg, ([127, 0, 0, 1], 0).into()).await?;
        let state = siap_server::state(cfg).await?;
        Ok(City { running, state })
    }

    /// The server's address.
    pub(super) fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// The server's signing key (the app is built with it).
    pub(super) fn public_key(&self) -> Vec<u8> {
        self.state.public_key.clone()
    }

    /// Publishes the offices and staff the device was given (the server judges each check-in by its
    /// own fences, not by the phone's), issues a registration code bound to `employee` and registers
    /// the device with it.
    pub(super) async fn register(
        &self,
        device: &Device,
        employee: &str,
        db_dir: &Path,
    ) -> anyhow::Result<()> {
        let now = siap_core::time::wall_now_ms();
        let refs = Reference(device.store());
        for site in refs.sites()? {
            let change = Change::Site {
                id: site.id,
                name: site.name,
                fence: serde_json::to_value(&site.fence)?,
            };
            siap_server::changes::publish(&self.state.db, change, now).await?;
        }
        for e in refs.employees()? {
            let change = Change::Employee {
                id: e.id,
                name: e.name,
                site_ids: e.site_ids,
            };
            siap_server::changes::publish(&self.state.db, change, now).await?;
        }
        let code = siap_server::devices::issue_code(
            &self.state.db,
            Binding::Employee(employee.into()),
            None,
            HOUR,
            now,
        )
        .await?;
        device.register(&code).await?;
        println!(
            "  server on {} (SQLite in {}): offices and staff published, this phone registered to {employee} with a one-time code",
            self.url(),
            db_dir.display()
        );
        Ok(())
    }

    /// The enrollments of `employee` the server holds, newest first.
    pub(super) async fn enrollments(&self, employee: &str) -> anyhow::Result<Vec<FaceEnrollment>> {
        Ok(siap_server::faces::list(&self.state.db, None, Some(employee.into())).await?)
    }

    /// An administrator's signed decision on one enrollment (published to the employee's devices).
    pub(super) async fn decide(
        &self,
        employee: &str,
        template: &str,
        decision: FaceDecisionKind,
        reason: &str,
    ) -> anyhow::Result<()> {
        siap_server::faces::decide(
            &self.state.db,
            self.state.signer.clone(),
            employee.into(),
            template.into(),
            DecisionRequest {
                decision,
                approver: "BKPSDM Kota Kupang (HR)".into(),
                reason: reason.into(),
                device_ids: None,
            },
            self.state.faces.is_some(),
            siap_core::time::wall_now_ms(),
        )
        .await?;
        Ok(())
    }

    /// Syncs the device, prints the server's attendance report for the day of `day_ms` (WITA) with
    /// both verdicts, and stops the server. Returns the seqs of the disputed records.
    pub(super) async fn report(self, device: &Device, day_ms: i64) -> anyhow::Result<Vec<u64>> {
        let report = device.sync().await?;
        println!(
            "  sync: sent {}, acknowledged {}, pending {}, photos uploaded {}, changes pulled {}, complete: {}",
            report.sent,
            report.acknowledged,
            report.pending,
            report.blobs_uploaded,
            report.pulled,
            report.is_complete()
        );
        for (phase, e) in &report.errors {
            println!("  sync problem in {phase:?}: {e}");
        }
        let again = device.sync().await?;
        println!(
            "  sync again: acknowledged {} (nothing is sent twice)",
            again.acknowledged
        );
        // The report day in WITA (UTC+8), where Kupang is.
        let day = siap_core::time::civil_date(day_ms, 8 * 60);
        // Check-ins the server would accept wait for its own face check of their crops.
        let mut rows = siap_server::report::attendance(&self.state.db, &day, 8 * 60).await?;
        let waited = rows.iter().filter(|r| r.decision == "pending").count();
        for _ in 0..200 {
            if rows.iter().all(|r| r.decision != "pending") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            rows = siap_server::report::attendance(&self.state.db, &day, 8 * 60).await?;
        }
        if waited > 0 {
            println!(
                "  the server embedded the uploaded face crop of {waited} check-in(s) itself, against the template it computed from the approved enrollment's crops, before counting it"
            );
        }
        let forks = siap_server::report::forks(&self.state.db, 0, 1000).await?;
        println!(
            "  server attendance report for {day} (WITA): {} check-ins, {} forks; the server's verdict beside the phone's:",
            rows.len(),
            forks.len()
        );
        for r in &rows {
            println!(
                "    {} at {} #{}: server {} {:?}, phone {}, flags {:?}",
                r.employee_id,
                r.site_id,
                r.seq,
                r.decision,
                r.server_reasons,
                r.device_decision,
                r.flags
            );
        }
        let disputed: Vec<u64> = rows
            .iter()
            .filter(|r| r.flags.iter().any(|f| f == "verdict_disputed"))
            .map(|r| r.seq)
            .collect();
        let _ = self.running.shutdown.send(());
        let _ = self.running.task.await;
        anyhow::ensure!(
            report.is_complete() && report.pending == 0,
            "the demo's sync did not complete"
        );
        Ok(disputed)
    }
}
