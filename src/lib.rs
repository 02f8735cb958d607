//! monibox: monitoring in a box. One binary that runs an instrumented demo service and brings up
//! Prometheus, Alertmanager and Grafana around it through the Docker Engine API.
//!
//! `up` plans the stack ([`stack`]), creates the containers ([`docker`]) and starts the daemon
//! ([`daemon`]), which serves the demo service and its own metrics and, through its supervisor
//! ([`supervise`]), recreates containers that exit, turn unhealthy or disappear.
//!
//! The binary (`src/main.rs`) only parses the command line; every command lives in [`app`], so
//! tests drive the same code the binary runs; [`top`] is the live terminal view of a stack.

pub mod app;
pub mod assets;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod docker;
pub mod export;
pub mod histogram;
pub mod httpc;
pub mod httpd;
pub mod load;
pub mod logging;
pub mod logs;
pub mod output;
pub mod promapi;
pub mod slo;
pub mod stack;
pub mod status;
pub mod supervise;
pub mod top;
