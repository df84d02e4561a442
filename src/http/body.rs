//! Reading a request body within bounds: of size (4 MiB, as rmcp's own
//! limit), of time (`--request-timeout`, so a body that stalls does not hold
//! its connection and file descriptor forever) and of memory across all
//! requests (a budget of bytes that the bodies being read share, so many
//! slow uploads at once cannot hold more than it).
//!
//! A body counts against the budget with what it announced in
//! `Content-Length` from the start (that much is coming, and refusing it
//! early spares the upload), or chunk by chunk as it arrives when chunked.
//! A body that finds the budget spent is refused at once with 503 rather
//! than queued: waiting would hold its connection just the same.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest request body accepted, as rmcp's own default.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The bytes that all bodies being read may hold at once: 16 bodies of the
/// largest size.
pub const BUDGET_BYTES: usize = 16 * MAX_BODY_BYTES;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("Payload Too Large: the body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("Service Unavailable: too many request bodies are being received at once; try again")]
    Busy,
    #[error("Request Timeout: the body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error("Bad Request: cannot read the body: {0}")]
    Broken(hyper::Error),
}

/// The memory budget that every body being read draws on.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(BUDGET_BYTES)
    }
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes)))
    }

    /// Take `bytes` from the budget, adding them to `held`; `Busy` if spent.
    fn take(&self, bytes: usize, held: &mut Option<OwnedSemaphorePermit>) -> Result<(), BodyError> {
        if bytes == 0 {
            return Ok(());
        }
        let bytes = u32::try_from(bytes).map_err(|_| BodyError::TooLarge)?;
        let permit = Arc::clone(&self.0)
            .try_acquire_many_owned(bytes)
            .map_err(|_| BodyError::Busy)?;
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// Read `body`, which announced `declared` bytes if it had a
/// `Content-Length`, within [`MAX_BODY_BYTES`], `timeout` and `budget`.
pub async fn read(
    mut body: Incoming,
    declared: Option<u64>,
    budget: &BodyBudget,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let mut held = None;
    if let Some(declared) = declared {
        let declared = usize::try_from(declared).map_err(|_| BodyError::TooLarge)?;
        if declared > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        budget.take(declared, &mut held)?;
    }
    let chunked = declared.is_none();
    let collect = async {
        let mut bytes = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(BodyError::Broken)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: nothing MCP uses
            };
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            if chunked {
                budget.take(data.len(), &mut held)?;
            }
            bytes.extend_from_slice(&data);
        }
        Ok(bytes.freeze())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| BodyError::TimedOut(timeout))?
}
