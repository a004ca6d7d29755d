//! How simulated pods become ready, per scenario. `Instant` makes every new pod ready at once, so a
//! rollout completes within one controller pass; `Stepwise` makes one pending pod per workload
//! ready per tick. Independently, images matching a "stuck" pattern never become ready, so a
//! Deployment rolling to them stalls and reports `ProgressDeadlineExceeded` once its deadline
//! passes on the simulated clock.

/// The pace at which pods become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// Ready as soon as created.
    #[default]
    Instant,
    /// One pending pod per owning workload becomes ready per [`crate::Sim::tick`].
    Stepwise,
}

/// The rollout model of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutModel {
    pace: Pace,
    stuck_images: Vec<String>,
}

impl RolloutModel {
    /// Pods are ready at once (the default).
    pub fn instant() -> Self {
        Self::default()
    }

    /// Pods become ready one per workload per tick.
    pub fn stepwise() -> Self {
        Self {
            pace: Pace::Stepwise,
            stuck_images: Vec::new(),
        }
    }

    /// Pods running an image that matches `pattern` never become ready. The pattern is a glob over
    /// the whole image reference where `*` matches any run of characters, e.g.
    /// `ghcr.io/example/api-server:1.3.0` or `*:1.3.*`.
    pub fn stuck_on(mut self, pattern: impl Into<String>) -> Self {
        self.stuck_images.push(pattern.into());
        self
    }

    /// The same stuck patterns at another pace.
    pub fn with_pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// The pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Whether a pod running `image` can never become ready.
    pub fn is_stuck(&self, image: &str) -> bool {
        self.stuck_images.iter().any(|p| glob_matches(p, image))
    }
}

/// `*`-only glob matching over the whole string.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_image_references() {
        assert!(glob_matches("a:1.3.0", "a:1.3.0"));
        assert!(!glob_matches("a:1.3", "a:1.3.0"));
        assert!(glob_matches("*:1.3.*", "ghcr.io/x/api:1.3.0"));
        assert!(glob_matches("ghcr.io/*/api:*", "ghcr.io/x/api:2"));
        assert!(!glob_matches("ghcr.io/*/api:*", "docker.io/x/api:2"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("*", ""));
    }

    #[test]
    fn stuck_patterns_are_independent_of_pace() {
        let m = RolloutModel::stepwise().stuck_on("*:bad");
        assert_eq!(m.pace(), Pace::Stepwise);
        assert!(m.is_stuck("x:bad"));
        assert!(!m.is_stuck("x:good"));
    }
}
