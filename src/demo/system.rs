//! Scrape-time process and host metrics read with sysinfo: the standard `process_*` series and
//! `system_*` CPU, memory and load. Readings are cached for a second so that a burst of scrapes
//! costs one read of /proc, and CPU usage is measured between two readings at least that far apart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind,
    System,
};

const CACHE_FOR: Duration = Duration::from_secs(1);

/// Collects process and host metrics when Prometheus scrapes.
#[derive(Debug)]
pub struct SystemCollector {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// `None` where sysinfo cannot read this platform; then nothing of it is exported.
    system: Option<System>,
    pid: Option<Pid>,
    read_at: Option<Instant>,
    reading: Reading,
}

/// One reading; `None` where this platform or moment could not tell.
#[derive(Debug, Default, Clone)]
struct Reading {
    process_cpu_seconds: Option<f64>,
    process_resident_bytes: Option<u64>,
    process_virtual_bytes: Option<u64>,
    process_open_fds: Option<usize>,
    process_max_fds: Option<usize>,
    process_start_time_seconds: Option<u64>,
    process_threads: Option<usize>,
    system_cpu_ratio: Option<f64>,
    system_cpu_count: Option<usize>,
    system_memory_used_bytes: Option<u64>,
    system_memory_total_bytes: Option<u64>,
    system_load: Option<[f64; 3]>,
}

impl SystemCollector {
    /// Prepares the collector. Without sysinfo support (an exotic platform) it still works and
    /// exports only what it can read.
    pub fn new() -> Self {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        let system = System::new_with_specifics(refresh).ok();
        let pid = sysinfo::get_current_pid().ok();
        let state = State {
            system,
            pid,
            read_at: None,
            reading: Reading::default(),
        };
        Self {
            state: Mutex::new(state),
        }
    }

    fn reading(&self) -> Reading {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let fresh = state.read_at.is_some_and(|at| at.elapsed() < CACHE_FOR);
        if !fresh {
            state.refresh();
        }
        state.reading.clone()
    }
}

impl Default for SystemCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    fn refresh(&mut self) {
        let first = self.read_at.is_none();
        self.read_at = Some(Instant::now());
        let Some(system) = self.system.as_mut() else {
            return;
        };
        system.refresh_cpu_usage();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let mut reading = Reading {
            // The first CPU reading has no earlier one to compare with, so it means nothing.
            system_cpu_ratio: (!first).then(|| f64::from(system.global_cpu_usage()) / 100.0),
            system_cpu_count: Some(system.cpus().len()).filter(|&n| n > 0),
            system_memory_used_bytes: Some(system.used_memory()),
            system_memory_total_bytes: Some(system.total_memory()).filter(|&n| n > 0),
            system_load: System::load_average()
                .ok()
                .map(|load| [load.one, load.five, load.fifteen]),
            ..Reading::default()
        };
        if let Some(pid) = self.pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(process) = system.process(pid) {
                reading.process_cpu_seconds = Some(process.accumulated_cpu_time() as f64 / 1000.0);
                reading.process_resident_bytes = Some(process.memory());
                reading.process_virtual_bytes = Some(process.virtual_memory());
                reading.process_open_fds = process.open_files();
                reading.process_max_fds = process.open_files_limit();
                reading.process_start_time_seconds = Some(process.start_time());
                reading.process_threads = process.tasks().map(|tasks| tasks.len());
            }
        }
        self.reading = reading;
    }
}

fn gauge<N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let Some(value) = value else { return Ok(()) };
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn to_i64(value: Option<usize>) -> Option<i64> {
    value.and_then(|v| i64::try_from(v).ok())
}

fn to_i64_u(value: Option<u64>) -> Option<i64> {
    value.and_then(|v| i64::try_from(v).ok())
}

impl Collector for SystemCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = self.reading();
        if let Some(seconds) = r.process_cpu_seconds {
            let metric = ConstCounter::new(seconds);
            metric.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                metric.metric_type(),
            )?)?;
        }
        let e = &mut encoder;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            to_i64_u(r.process_resident_bytes),
        )?;
        gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            to_i64_u(r.process_virtual_bytes),
        )?;
        gauge(
            e,
            "process_open_fds",
            "Number of open file descriptors",
            to_i64(r.process_open_fds),
        )?;
        gauge(
            e,
            "process_max_fds",
            "Maximum number of open file descriptors",
            to_i64(r.process_max_fds),
        )?;
        gauge(
            e,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            to_i64_u(r.process_start_time_seconds),
        )?;
        gauge(
            e,
            "process_threads",
            "Number of OS threads in the process",
            to_i64(r.process_threads),
        )?;
        gauge(
            e,
            "system_cpu_usage_ratio",
            "Share of all CPUs of the host in use since the previous reading (0 to 1)",
            r.system_cpu_ratio,
        )?;
        gauge(
            e,
            "system_cpus",
            "Logical CPUs of the host",
            to_i64(r.system_cpu_count),
        )?;
        gauge(
            e,
            "system_memory_used_bytes",
            "Memory of the host in use in bytes",
            to_i64_u(r.system_memory_used_bytes),
        )?;
        gauge(
            e,
            "system_memory_total_bytes",
            "Memory of the host in bytes",
            to_i64_u(r.system_memory_total_bytes),
        )?;
        if let Some([one, five, fifteen]) = r.system_load {
            gauge(
                e,
                "system_load1",
                "Host load average over 1 minute",
                Some(one),
            )?;
            gauge(
                e,
                "system_load5",
                "Host load average over 5 minutes",
                Some(five),
            )?;
            gauge(
                e,
                "system_load15",
                "Host load average over 15 minutes",
                Some(fifteen),
            )?;
        }
        Ok(())
    }
}
