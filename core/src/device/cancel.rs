//! Cancelling slow device work from the app.
//!
//! A check-in, an enrollment or an identification runs on a worker thread for hundreds of
//! milliseconds. When the user leaves the screen the app cancels its coroutine or task; the work then
//! stops at the next point where stopping loses nothing (between photos, before the record is written),
//! and returns [`Error::Cancelled`]. Work already past its last checkpoint (the ledger write, a
//! detection in progress) completes: a record is either written whole or not at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

/// A cancellation flag shared between the caller and the work it started.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// A flag that is never set, for callers that do not cancel.
    pub fn never() -> Self {
        Cancel::default()
    }

    /// Asks the work to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Error::Cancelled)` once cancelled: the work's checkpoints call this.
    pub fn checkpoint(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A guard that cancels when dropped: held by an async wrapper, so dropping the wrapper's future
    /// (a cancelled coroutine) stops the work it handed to a worker thread.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Cancels its [`Cancel`] when dropped (see [`Cancel::on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_cancels_every_clone() {
        let c = Cancel::new();
        let work = c.clone();
        assert!(work.checkpoint().is_ok());
        drop(c.on_drop());
        assert!(matches!(work.checkpoint(), Err(Error::Cancelled)));
    }
}
