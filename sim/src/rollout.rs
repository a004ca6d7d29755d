//! How simulated pods become ready, per scenario, and how a bad image fails. `Instant` makes every
//! new pod ready at once, so a rollout completes within one controller pass; `Stepwise` makes one
//! pending pod per workload ready per tick. Independently, the image says how a pod fails, the
//! same convention kube-real's kwok stages follow: a tag containing `crashloop` crash-loops
//! (`CrashLoopBackOff`, exit code 1, a restart count that rises every tick), `unpullable` never
//! pulls (`ErrImagePull`, then `ImagePullBackOff`), `notready` runs but never becomes Ready. A
//! Deployment rolling to such an image stalls and reports `ProgressDeadlineExceeded` once its
//! deadline passes on the simulated clock.

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
        }
    }

    /// The same model at another pace.
    pub fn with_pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// The pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }
}

/// How a container whose image follows the convention fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFailure {
    /// Starts, exits 1, and is restarted with back-off: `CrashLoopBackOff`.
    CrashLoop,
    /// Cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`; the pod stays Pending.
    Unpullable,
    /// Runs, but its readiness never passes: Running with Ready=False.
    NotReady,
}

impl ImageFailure {
    /// The failure an image's tag asks for (`...:1.3.0-crashloop`), if any. A tag with several
    /// markers fails the first way of crashloop, unpullable, notready.
    pub fn of(image: &str) -> Option<Self> {
        let name = image.rsplit('/').next().unwrap_or(image);
        let tag = name.split_once(':').map(|(_, tag)| tag)?;
        [
            ("crashloop", Self::CrashLoop),
            ("unpullable", Self::Unpullable),
            ("notready", Self::NotReady),
        ]
        .into_iter()
        .find(|(marker, _)| tag.contains(marker))
        .map(|(_, failure)| failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_names_the_failure() {
        assert_eq!(
            ImageFailure::of("ghcr.io/x/api:1.3.0-crashloop"),
            Some(ImageFailure::CrashLoop)
        );
        assert_eq!(
            ImageFailure::of("api:unpullable"),
            Some(ImageFailure::Unpullable)
        );
        assert_eq!(
            ImageFailure::of("localhost:5000/api:2-notready"),
            Some(ImageFailure::NotReady)
        );
        assert_eq!(
            ImageFailure::of("crashloop/api:1.0"),
            None,
            "only the tag counts"
        );
        assert_eq!(
            ImageFailure::of("localhost:5000/crashloop"),
            None,
            "a registry port is no tag"
        );
        assert_eq!(ImageFailure::of("api"), None);
        assert_eq!(
            ImageFailure::of("api:crashloop-unpullable"),
            Some(ImageFailure::CrashLoop)
        );
    }
}
