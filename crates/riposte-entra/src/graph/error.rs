//! What can go wrong talking to Graph, and what it means for a write.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntraError {
    #[error("tenant {tenant}: the token endpoint refused the client credentials: {message}")]
    Auth { tenant: String, message: String },
    #[error("tenant {tenant}: Graph could not be reached: {message}")]
    Unavailable { tenant: String, message: String },
    #[error(
        "tenant {tenant}: Graph kept throttling or failing ({status}) after {attempts} attempts; try again later"
    )]
    Exhausted {
        tenant: String,
        status: u16,
        attempts: u32,
    },
    #[error(
        "tenant {tenant}: Graph answered {status} and asked to wait {retry_after_secs} s before trying again, longer than max_backoff_secs ({max_backoff_secs} s) allows; try again later"
    )]
    WaitTooLong {
        tenant: String,
        status: u16,
        retry_after_secs: u64,
        max_backoff_secs: u64,
    },
    #[error("tenant {tenant}: Graph answered {status} {code}: {message}")]
    Graph {
        tenant: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("tenant {tenant}: Graph's answer could not be understood: {message}")]
    Malformed { tenant: String, message: String },
    /// A link (an `@odata.nextLink`) to anywhere but the configured Graph
    /// origin: not followed, so the access token never goes there.
    #[error(
        "tenant {tenant}: Graph's answer links to {origin}, not to the configured Graph origin {expected}; riposte did not follow it, so the access token was not sent there (check graph_url, or whatever between riposte and Graph rewrites its answers)"
    )]
    ForeignLink {
        tenant: String,
        /// Scheme, host and port of the link (never its path, query or user info).
        origin: String,
        expected: String,
    },
}

impl EntraError {
    /// Whether a write that ended with this error may have been applied all
    /// the same: no answer (a timeout, a dropped connection), an answer that
    /// could not be read, or a 503 (which a gateway may send after the work
    /// was done). A 429 or a 4xx says the write was not done.
    pub fn may_have_applied(&self) -> bool {
        match self {
            EntraError::Unavailable { .. } | EntraError::Malformed { .. } => true,
            EntraError::Exhausted { status, .. } | EntraError::WaitTooLong { status, .. } => {
                *status != 429
            }
            EntraError::Auth { .. } | EntraError::Graph { .. } | EntraError::ForeignLink { .. } => {
                false
            }
        }
    }

    /// Graph refused the write for a reason the requester must fix (rights,
    /// an on-premises mastered user): `denied`, not `failed`.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EntraError::Graph { status, message, .. }
            if *status == 403 || (*status == 400 && message.contains("on-premises mastered")) || message.contains("guest"))
    }
}
