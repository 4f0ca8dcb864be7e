//! How exported async calls run: CPU and SQLite work on tokio's blocking pool (never on an executor
//! thread), network work as a task; in both cases a panic becomes [`SiapError::Internal`] and dropping
//! the call's future (a cancelled Kotlin coroutine or Swift task) stops the work at its next safe
//! point (see `siap_core::device::Cancel`) or aborts the task at its next await.

use std::future::Future;

use siap_core::device::Cancel;

use crate::error::{SiapError, guard};

/// Runs blocking core work `f` on the blocking pool; cancelled when the returned future is dropped.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce(&Cancel) -> Result<T, SiapError> + Send + 'static,
) -> Result<T, SiapError> {
    let cancel = Cancel::new();
    let _cancel_on_drop = cancel.on_drop();
    let task = tokio::task::spawn_blocking(move || guard(|| f(&cancel)));
    task.await.map_err(join_error)?
}

/// Runs async core work as a task; aborted at its next await when the returned future is dropped.
pub(crate) async fn task<T: Send + 'static>(
    fut: impl Future<Output = Result<T, SiapError>> + Send + 'static,
) -> Result<T, SiapError> {
    let handle = tokio::spawn(fut);
    let _abort_on_drop = AbortOnDrop(handle.abort_handle());
    handle.await.map_err(join_error)?
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn join_error(e: tokio::task::JoinError) -> SiapError {
    if e.is_panic() {
        SiapError::Internal {
            reason: "panic caught in a worker task".into(),
        }
    } else {
        SiapError::Cancelled
    }
}
