//! The execution context: which execution this is, cancellation, and an injectable clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// A source of the current time. Library code reads time only through a clock, so tests can pin
/// or advance it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    /// A clock pinned at `now`.
    pub fn new(now: SystemTime) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock();
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        *self.0.lock() = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock()
    }
}

/// What an operation knows about the execution it runs in.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    /// The host's id for this process execution.
    pub execution_id: String,
    /// The name of the process being executed.
    pub process_name: String,
    /// For hosts that embed a connector in-process and want to stop an execution early;
    /// operations check it between calls. Protocol 1.0 has no cancel method, and `shutdown`
    /// lets in-flight executions finish, so the plugin server never cancels it.
    pub cancellation: CancellationToken,
    /// The clock to read time from.
    pub clock: Arc<dyn Clock>,
}

impl ExecutionContext {
    /// A context with the system clock and a fresh cancellation token.
    pub fn new(execution_id: impl Into<String>, process_name: impl Into<String>) -> Self {
        Self {
            execution_id: execution_id.into(),
            process_name: process_name.into(),
            cancellation: CancellationToken::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same context with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The current time according to the context's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = ManualClock::new(start);
        let ctx = ExecutionContext::new("e1", "p").with_clock(Arc::new(clock.clone()));
        assert_eq!(ctx.now(), start);
        clock.advance(Duration::from_secs(61));
        assert_eq!(ctx.now(), start + Duration::from_secs(61));
    }
}
