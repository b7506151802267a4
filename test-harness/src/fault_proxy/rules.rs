//! Fault kinds, rules, their text form, and the seeded choice of which request gets a fault.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the proxy does to a request chosen for a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// `internal-error`: not forwarded; answered HTTP 500 with an AWS JSON 1.0 `InternalError`.
    InternalError,
    /// `throttling`: not forwarded; answered HTTP 400 with an AWS JSON 1.0 `ThrottlingException`
    /// (query error code `RequestThrottled`).
    Throttling,
    /// `reset-before`: not forwarded; the client connection is reset (TCP RST).
    ResetBefore,
    /// `reset-after`: forwarded and the upstream's whole answer read (the request took effect),
    /// then the client connection is reset instead of answered.
    ResetAfter,
    /// `delay`: forwarded; the answer is held for the configured delay, then written.
    Delay,
    /// `truncate`: forwarded; the status line and headers (with the full `Content-Length`) and
    /// the first half of the body are written, then the connection is closed.
    Truncate,
    /// `corrupt-md5`: forwarded; in a `ReceiveMessage` answer the first `MD5OfBody` digest is
    /// replaced by another well-formed one. Counted only when a digest was changed.
    CorruptMd5,
    /// `access-denied`: not forwarded; answered HTTP 400 with the `AccessDenied` error SQS gives
    /// credentials that lack the action's permission (query error code `AccessDenied`). Not a
    /// fault of the network or the server, so not in [`FaultKind::ALL`]: a refusal, to test least
    /// privilege (`access-denied@GetQueueAttributes`).
    AccessDenied,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::InternalError,
        FaultKind::Throttling,
        FaultKind::ResetBefore,
        FaultKind::ResetAfter,
        FaultKind::Delay,
        FaultKind::Truncate,
        FaultKind::CorruptMd5,
    ];

    /// The refusals: answers a permission check gives, not faults of the network or the server.
    pub const REFUSALS: [FaultKind; 1] = [FaultKind::AccessDenied];

    /// The kebab-case name used on the command line and in the statistics (`reset-after`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalError => "internal-error",
            FaultKind::Throttling => "throttling",
            FaultKind::ResetBefore => "reset-before",
            FaultKind::ResetAfter => "reset-after",
            FaultKind::Delay => "delay",
            FaultKind::Truncate => "truncate",
            FaultKind::CorruptMd5 => "corrupt-md5",
            FaultKind::AccessDenied => "access-denied",
        }
    }

    /// Whether the request reaches the upstream when this fault is applied.
    pub fn forwards(self) -> bool {
        !matches!(
            self,
            FaultKind::InternalError
                | FaultKind::Throttling
                | FaultKind::ResetBefore
                | FaultKind::AccessDenied
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = ParseRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        FaultKind::ALL
            .into_iter()
            .chain(FaultKind::REFUSALS)
            .find(|kind| kind.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL
                    .iter()
                    .chain(&FaultKind::REFUSALS)
                    .map(|k| k.name())
                    .collect();
                ParseRuleError(format!(
                    "unknown fault kind {s:?}; expected one of: {}",
                    names.join(", ")
                ))
            })
    }
}

/// A fault kind or rule that could not be parsed; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseRuleError(String);

/// When and how often a fault is injected.
///
/// Text form (the `--fault` option): `KIND[:RATE][@Action1,Action2][#MAX]`, for example
/// `reset-after:0.25@SendMessageBatch`, `throttling`, or `internal-error:0.5#3`. `RATE` defaults to
/// 1.0; without `@` the rule applies to every action; `#MAX` caps how many times it fires. Action
/// names may carry the `AmazonSQS.` prefix of the `X-Amz-Target` header; it is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The fault to inject.
    pub kind: FaultKind,
    /// The chance, 0.0..=1.0, that a matching request gets the fault.
    pub rate: f64,
    /// The SQS actions (`SendMessageBatch`, the `X-Amz-Target` suffix) the rule applies to, compared
    /// without regard to case; empty: every request.
    pub actions: Vec<String>,
    /// The most times the rule fires; `None`: no limit.
    pub max_faults: Option<u64>,
}

impl FaultRule {
    /// A rule of `kind` at `rate` for every action, without a cap.
    pub fn new(kind: FaultKind, rate: f64) -> Self {
        Self {
            kind,
            rate,
            actions: Vec::new(),
            max_faults: None,
        }
    }

    /// This rule, limited to the given actions.
    pub fn for_actions<I, S>(mut self, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.actions = actions
            .into_iter()
            .map(|a| strip_target_prefix(&a.into()).to_string())
            .collect();
        self
    }

    /// This rule, firing at most `max` times.
    pub fn with_max_faults(mut self, max: u64) -> Self {
        self.max_faults = Some(max);
        self
    }

    /// Whether the rule's action filter lets `action` through.
    pub fn matches(&self, action: &str) -> bool {
        self.actions.is_empty() || self.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
    }

    /// Refuses a rate outside 0.0..=1.0 (or not a number).
    pub fn validate(&self) -> Result<(), ParseRuleError> {
        if (0.0..=1.0).contains(&self.rate) {
            Ok(())
        } else {
            Err(ParseRuleError(format!(
                "fault rate {} of {} is not within 0.0..=1.0",
                self.rate, self.kind
            )))
        }
    }
}

fn strip_target_prefix(action: &str) -> &str {
    let action = action.trim();
    action.strip_prefix("AmazonSQS.").unwrap_or(action)
}

impl FromStr for FaultRule {
    type Err = ParseRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (text, max_faults) = match text.split_once('#') {
            Some((rest, max)) => {
                let max = max.trim().parse::<u64>().map_err(|_| {
                    ParseRuleError(format!(
                        "in fault rule {s:?}: the cap after '#' must be a whole number, not {max:?}"
                    ))
                })?;
                (rest, Some(max))
            }
            None => (text, None),
        };
        let (text, actions) = match text.split_once('@') {
            Some((rest, list)) => {
                let actions: Vec<String> = list
                    .split(',')
                    .map(|a| strip_target_prefix(a).to_string())
                    .collect();
                if actions.iter().any(String::is_empty) {
                    return Err(ParseRuleError(format!(
                        "in fault rule {s:?}: an empty action name after '@'"
                    )));
                }
                (rest, actions)
            }
            None => (text, Vec::new()),
        };
        let (kind, rate) = match text.split_once(':') {
            Some((kind, rate)) => {
                let rate = rate.trim().parse::<f64>().map_err(|_| {
                    ParseRuleError(format!(
                        "in fault rule {s:?}: the rate after ':' must be a number, not {rate:?}"
                    ))
                })?;
                (kind, rate)
            }
            None => (text, 1.0),
        };
        let rule = FaultRule {
            kind: kind.parse()?,
            rate,
            actions,
            max_faults,
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl fmt::Display for FaultRule {
    /// The text form, `KIND:RATE[@Actions][#MAX]`, which parses back to an equal rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.rate)?;
        if !self.actions.is_empty() {
            write!(f, "@{}", self.actions.join(","))?;
        }
        if let Some(max) = self.max_faults {
            write!(f, "#{max}")?;
        }
        Ok(())
    }
}

/// splitmix64: a tiny deterministic generator, enough to pick requests reproducibly.
#[derive(Debug, Clone)]
pub(crate) struct Prng(u64);

impl Prng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw in `[0, 1)` with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        // 2^-53: the top 53 bits become the mantissa of a number below 1.
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }
}

/// A rule in force and how many times it has fired.
#[derive(Debug)]
pub(crate) struct ActiveRule {
    pub(crate) rule: FaultRule,
    fired: AtomicU64,
}

impl ActiveRule {
    /// Gives back a firing that did not happen after all (a `corrupt-md5` answer without a
    /// digest, an upstream that failed), so it does not count against `max_faults`.
    pub(crate) fn release(&self) {
        let _ = self
            .fired
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// The rules in order and the generator that draws for them.
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: Vec<Arc<ActiveRule>>,
    rng: Prng,
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        let mut set = Self {
            rules: Vec::new(),
            rng: Prng::new(seed),
        };
        set.replace(rules);
        set
    }

    /// New rules (their fire counts start at zero); the generator goes on where it was.
    pub(crate) fn replace(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules
            .into_iter()
            .map(|rule| {
                Arc::new(ActiveRule {
                    rule,
                    fired: AtomicU64::new(0),
                })
            })
            .collect();
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|r| r.rule.clone()).collect()
    }

    /// The first rule whose filter matches `action`, whose draw is below its rate and whose cap
    /// is not reached; its fire count is taken at once. Every matching rule draws once, in order,
    /// until one applies, so the same requests in the same order meet the same faults.
    pub(crate) fn choose(&mut self, action: &str) -> Option<Arc<ActiveRule>> {
        for active in &self.rules {
            if !active.rule.matches(action) {
                continue;
            }
            let draw = self.rng.next_f64();
            if draw >= active.rule.rate {
                continue;
            }
            let fired = active.fired.load(Ordering::Relaxed);
            if active.rule.max_faults.is_some_and(|max| fired >= max) {
                continue;
            }
            active.fired.fetch_add(1, Ordering::Relaxed);
            return Some(Arc::clone(active));
        }
        None
    }
}
