//! monibox: monitoring in a box. One binary that runs an instrumented demo service and brings up
//! Prometheus, Alertmanager and Grafana around it through the Docker Engine API.
//!
//! The binary (`src/main.rs`) only parses the command line; every command lives in [`app`], so
//! tests drive the same code the binary runs.

pub mod app;
pub mod assets;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod docker;
pub mod httpc;
pub mod httpd;
pub mod load;
pub mod logging;
pub mod stack;
pub mod status;
pub mod supervise;
