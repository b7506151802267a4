//! The execution context: which execution this is, cancellation, work to run once the results
//! were delivered, and an injectable clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// A source of the current time. Library code reads time only through a clock, so tests can pin
/// or advance it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current wall-clock time, possibly behind by up to [`COARSE_CLOCK_LAG`], for checks
    /// that allow for that lag and run often (a cache hit). The system clock reads the kernel's
    /// coarse clock, several times cheaper than [`now`](Self::now); by default it is `now`.
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }
}

/// The most [`Clock::now_coarse`] may lag behind [`Clock::now`]. The kernel's coarse clock is
/// behind by at most one tick (1 to 10 ms); this leaves a wide margin.
pub const COARSE_CLOCK_LAG: Duration = Duration::from_secs(1);

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn now_coarse(&self) -> SystemTime {
        let at = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        match (u64::try_from(at.tv_sec), u32::try_from(at.tv_nsec)) {
            (Ok(seconds), Ok(nanos)) => {
                SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos.min(999_999_999))
            }
            _ => self.now(),
        }
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

/// One piece of work registered with [`ExecutionContext::after_delivery`].
pub(crate) type DeliveryWork = Box<dyn FnOnce(bool) -> BoxFuture<'static, ()> + Send>;

/// The work registered with [`ExecutionContext::after_delivery`], shared by a context's clones.
#[derive(Clone, Default)]
pub(crate) struct AfterDelivery(Arc<Mutex<Vec<DeliveryWork>>>);

impl AfterDelivery {
    /// Takes every piece of work registered so far.
    pub(crate) fn take(&self) -> Vec<DeliveryWork> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl std::fmt::Debug for AfterDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AfterDelivery({} registered)", self.0.lock().len())
    }
}

/// What an operation knows about the execution it runs in.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    /// The host's id for this process execution.
    pub execution_id: String,
    /// The name of the process being executed.
    pub process_name: String,
    /// Cancelled when the execution should stop early: operations check it between calls,
    /// start no new service call once it is cancelled, and give the documents they did not
    /// finish a `FAILURE` result. The plugin server cancels it when the host sends
    /// `$/cancelRequest` for the request, and when the plugin's stdout is closed or broken;
    /// hosts that embed a connector in-process cancel it themselves. `shutdown` and a closed
    /// stdin let in-flight executions finish, so they do not cancel it.
    pub cancellation: CancellationToken,
    /// The clock to read time from.
    pub clock: Arc<dyn Clock>,
    /// Work to run once the results were handed to the host.
    after_delivery: AfterDelivery,
}

impl ExecutionContext {
    /// A context with the system clock and a fresh cancellation token.
    pub fn new(execution_id: impl Into<String>, process_name: impl Into<String>) -> Self {
        Self {
            execution_id: execution_id.into(),
            process_name: process_name.into(),
            cancellation: CancellationToken::new(),
            clock: Arc::new(SystemClock),
            after_delivery: AfterDelivery::default(),
        }
    }

    /// The same context with another cancellation token.
    pub fn with_cancellation(mut self, cancellation: CancellationToken) -> Self {
        self.cancellation = cancellation;
        self
    }

    /// Registers work to run once this execution's results have been handed to the host
    /// (written and flushed to the plugin's stdout, or returned to an in-process caller):
    /// `delivered` is true then, and false when they could not be (stdout closed or broken, the
    /// call cancelled): the work must then undo or skip what depends on delivery.
    ///
    /// RECEIVE with delete-after-read, for instance, deletes its messages here, so that a message
    /// is deleted only once the answer carrying it has reached the host. The work must be
    /// registered before the operation's `execute` returns; it runs once, in the order
    /// registered, in the task that serves the request (so `shutdown` waits for it).
    pub fn after_delivery<F>(&self, work: F)
    where
        F: FnOnce(bool) -> BoxFuture<'static, ()> + Send + 'static,
    {
        self.after_delivery.0.lock().push(Box::new(work));
    }

    /// The same context with an empty list of work after delivery, its own: one execution's work
    /// is then never run by another that shares the caller's context.
    pub(crate) fn for_one_execution(&self) -> Self {
        Self {
            after_delivery: AfterDelivery::default(),
            ..self.clone()
        }
    }

    /// The work registered with [`ExecutionContext::after_delivery`].
    pub(crate) fn deliveries(&self) -> &AfterDelivery {
        &self.after_delivery
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

    #[tokio::test]
    async fn work_after_delivery_is_shared_by_clones_and_taken_once() {
        let ctx = ExecutionContext::new("e1", "p");
        let told = Arc::new(Mutex::new(Vec::new()));
        for n in 0..2 {
            let told = told.clone();
            ctx.clone().after_delivery(move |delivered| {
                Box::pin(async move { told.lock().push((n, delivered)) })
            });
        }
        let works = ctx.deliveries().take();
        assert_eq!(works.len(), 2);
        assert!(ctx.deliveries().take().is_empty());
        for work in works {
            work(true).await;
        }
        assert_eq!(*told.lock(), vec![(0, true), (1, true)]);
        // Another execution's context starts with nothing registered.
        ctx.after_delivery(|_| Box::pin(async {}));
        assert!(ctx.for_one_execution().deliveries().take().is_empty());
    }
}
