//! `kube-sim`: a simulated Kubernetes API server with the rollout controllers (Deployment,
//! ReplicaSet, DaemonSet, StatefulSet), for testing tools that read rollout history and roll
//! workloads back. Its fidelity is checked by running unmodified `kubectl` (1.27 to 1.33) against
//! it; see `sim/README.md` for what it models and what it does not.
//!
//! ```no_run
//! # async fn demo() {
//! use kube_sim::{Fault, Scenario, Sim, Verb};
//!
//! let sim = Sim::start(Scenario::demo()).await;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig")).unwrap();
//! let deployment = sim.get("deployments", "shop", "api-server").unwrap();
//! assert_eq!(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4");
//! sim.inject_fault(Fault::on(Verb::Patch, "deployments").named("api-server").status(500).once());
//! sim.deny(Verb::Patch, "deployments/scale");
//! # }
//! ```
#![forbid(unsafe_code)]

mod admission;
mod api;
pub mod clock;
mod controllers;
mod defaults;
mod demo;
mod discovery;
mod errors;
mod events;
mod faults;
mod hash;
mod ids;
mod json;
mod kubeconfig;
mod patch;
mod registry;
mod request_log;
mod resources;
mod rollout;
pub mod scenario;
mod selector;
mod server;
mod sim;
mod store;
mod table;
mod validation;
mod watch;
mod world;

pub use admission::Mutation;
pub use clock::{Clock, ClockMode};
pub use demo::BAD_IMAGE as DEMO_BAD_IMAGE;
pub use errors::{ApiError, FieldError, FieldErrorKind};
pub use faults::{Fault, Verb};
pub use request_log::RequestRecord;
pub use resources::ResourceKind;
pub use rollout::{ImageFailure, Pace, RolloutModel};
pub use scenario::{
    ReplayAction, ReplayStep, Scenario, ScenarioBuilder, TemplateChange, WorkloadBuilder,
};
pub use sim::{ControllerMode, Sim, SimError, SimOptions};
