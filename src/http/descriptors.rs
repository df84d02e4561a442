//! The open-file limit of an HTTP server: every session's SSE stream holds a
//! socket, so the usual soft limit of 1,024 descriptors caps a server at
//! fewer than 1,024 listening clients while the hard limit allows far more.

/// What [`raise_to_hard_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// The soft limit went from `from` to `to`, the hard limit.
    Up { from: u64, to: u64 },
    /// The soft limit already was the hard limit.
    AtHardLimit(u64),
    /// The limit could not be read or set; `errno` says why.
    Failed(i32),
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, which an unprivileged
/// process may always do.
pub fn raise_to_hard_limit() -> Raised {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Raised::Failed(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    let (from, to) = (limit.rlim_cur, limit.rlim_max);
    if from >= to {
        return Raised::AtHardLimit(from);
    }
    limit.rlim_cur = to;
    // SAFETY: setrlimit reads only the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Raised::Failed(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Raised::Up { from, to }
}

impl Raised {
    /// Say in the log what happened: only a change or a failure is news.
    pub fn log(self) {
        match self {
            Raised::Up { from, to } => tracing::info!(
                from,
                to,
                "raised the open-file limit (soft RLIMIT_NOFILE) to the hard limit: each HTTP session's stream holds a descriptor"
            ),
            Raised::AtHardLimit(limit) => {
                tracing::debug!(limit, "open-file limit already at the hard limit")
            }
            Raised::Failed(errno) => tracing::warn!(
                errno,
                "cannot raise the open-file limit; HTTP sessions are capped by the soft limit"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let first = raise_to_hard_limit();
        assert!(!matches!(first, Raised::Failed(_)), "{first:?}");
        // A second call finds it there.
        assert!(matches!(raise_to_hard_limit(), Raised::AtHardLimit(_)));
    }
}
