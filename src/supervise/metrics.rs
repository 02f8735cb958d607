//! The supervisor's self-metrics, registered in the daemon's registry (ops listener `/metrics`,
//! Prometheus job `monibox`):
//!
//! - `monibox_container_up{component}`: 1 when the container runs and is not unhealthy;
//! - `monibox_container_restarts_total{component,reason}`: restarts done by the supervisor;
//! - `monibox_supervisor_errors_total`: failed Docker operations of the supervisor, attempts to
//!   reach an unreachable Engine included;
//! - `monibox_docker_engine_up`: 1 while the Engine answers.
//!
//! Every series exists from the start (at 0), so `increase()` and the dashboards work before the
//! first restart; a component's `monibox_container_up` leaves once the stack record shows it is
//! not supervised (switched off), so a component that is off never shows as down.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::policy::Reason;
use crate::catalog;

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ComponentLabels {
    component: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RestartLabels {
    component: &'static str,
    reason: &'static str,
}

/// Handles to the supervisor's metrics; clones share the same series.
#[derive(Debug, Clone, Default)]
pub struct SupervisorMetrics {
    container_up: Family<ComponentLabels, Gauge>,
    restarts: Family<RestartLabels, Counter>,
    errors: Counter,
    engine_up: Gauge,
}

impl SupervisorMetrics {
    /// Registers the metrics in `registry`, every component's series at 0.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "monibox_container_up",
            "Whether the component's container runs and is not unhealthy (1) or not (0)",
            metrics.container_up.clone(),
        );
        registry.register(
            "monibox_container_restarts",
            "Containers the supervisor restarted, by component and reason",
            metrics.restarts.clone(),
        );
        registry.register(
            "monibox_supervisor_errors",
            "Docker operations of the supervisor that failed, attempts to reach the Engine included",
            metrics.errors.clone(),
        );
        registry.register(
            "monibox_docker_engine_up",
            "Whether the Docker Engine answers the supervisor (1) or not (0)",
            metrics.engine_up.clone(),
        );
        for component in catalog::names() {
            // Creating the series is the point; the handles are not needed.
            drop(
                metrics
                    .container_up
                    .get_or_create(&ComponentLabels { component }),
            );
            for reason in Reason::ALL {
                drop(metrics.restarts.get_or_create(&RestartLabels {
                    component,
                    reason: reason.as_str(),
                }));
            }
        }
        metrics
    }

    /// `component` is a catalog name.
    pub fn set_container_up(&self, component: &'static str, up: bool) {
        self.container_up
            .get_or_create(&ComponentLabels { component })
            .set(i64::from(up));
    }

    /// Drops `component`'s `monibox_container_up` series: it is not supervised (switched off,
    /// or no stack is up), so it is neither up nor down.
    pub fn forget_container_up(&self, component: &'static str) {
        self.container_up.remove(&ComponentLabels { component });
    }

    pub fn count_restart(&self, component: &'static str, reason: Reason) {
        self.restarts
            .get_or_create(&RestartLabels {
                component,
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Counts a failed Docker operation.
    pub fn count_error(&self) {
        self.errors.inc();
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.get()
    }

    pub fn set_engine_up(&self, up: bool) {
        self.engine_up.set(i64::from(up));
    }
}
