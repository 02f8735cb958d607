//! The instrumented demo service: a hyper server with `/`, `/slow`, `/error`, `/cpu-intensive`
//! and `/metrics`, its typed metrics and the system collector.
