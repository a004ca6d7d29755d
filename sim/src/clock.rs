//! The simulated clock. Every timestamp the sim writes (creationTimestamp, condition times, pod
//! start times) comes from it, so scenarios can place history "30 days ago" and tests can move
//! time forward to cross a progress deadline. A frozen clock only moves when told to (tests); a
//! running clock also follows the wall clock (the binary, so `kubectl` sees ages grow).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

/// How the clock moves by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time stands still between explicit [`Clock::advance`] calls (deterministic tests).
    Frozen,
    /// Time also follows the wall clock.
    Running,
}

type Hook = Box<dyn Fn() + Send + Sync>;

/// A cloneable handle to the one clock of a sim.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    on_advance: Mutex<Option<Hook>>,
}

struct State {
    base: Timestamp,
    mode: ClockMode,
    anchor: Instant,
}

impl Clock {
    /// A clock reading `start` (whole seconds, like Kubernetes timestamps).
    pub fn new(start: Timestamp, mode: ClockMode) -> Self {
        let base = Timestamp::from_second(start.as_second()).unwrap_or(start);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    base,
                    mode,
                    anchor: Instant::now(),
                }),
                on_advance: Mutex::new(None),
            }),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> Timestamp {
        let state = self.state();
        match state.mode {
            ClockMode::Frozen => state.base,
            ClockMode::Running => {
                let elapsed = SignedDuration::try_from(state.anchor.elapsed()).unwrap_or_default();
                state.base.checked_add(elapsed).unwrap_or(state.base)
            }
        }
    }

    /// The current time in the API's format (`2024-05-01T12:00:00Z`).
    pub fn now_rfc3339(&self) -> String {
        format_time(self.now())
    }

    /// Moves time forward by `by`, then lets the controllers react (progress deadlines,
    /// `minReadySeconds`) whatever the controller mode.
    pub fn advance(&self, by: Duration) {
        {
            let mut state = self.state();
            let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
            state.base = state.base.checked_add(by).unwrap_or(state.base);
        }
        let hook = self
            .inner
            .on_advance
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(hook) = hook.as_ref() {
            hook();
        }
    }

    /// Sets the time without notifying anyone (scenario seeding replays history in the past).
    pub(crate) fn set(&self, at: Timestamp) {
        let mut state = self.state();
        state.base = Timestamp::from_second(at.as_second()).unwrap_or(at);
        state.anchor = Instant::now();
    }

    /// Registers what runs after [`Clock::advance`].
    pub(crate) fn on_advance(&self, hook: Hook) {
        *self
            .inner
            .on_advance
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").field("now", &self.now()).finish()
    }
}

/// A timestamp the way `metav1.Time` serialises it.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `metav1.Time` string.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: the AGE column of `kubectl get`.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let clock = Clock::new(start, ClockMode::Frozen);
        assert_eq!(clock.now_rfc3339(), "2024-05-01T12:00:00Z");
        clock.advance(Duration::from_secs(601));
        assert_eq!(clock.now_rfc3339(), "2024-05-01T12:10:01Z");
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let d = |s: i64| human_duration(SignedDuration::from_secs(s));
        assert_eq!(d(5), "5s");
        assert_eq!(d(119), "119s");
        assert_eq!(d(125), "2m5s");
        assert_eq!(d(600), "10m");
        assert_eq!(d(3 * 3600 + 120), "3h2m");
        assert_eq!(d(20 * 3600), "20h");
        assert_eq!(d(3 * 86400 + 3600), "3d1h");
        assert_eq!(d(30 * 86400), "30d");
    }
}
