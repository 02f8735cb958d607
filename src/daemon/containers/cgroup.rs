//! A container's cgroup files, read the way cAdvisor reads them: where they are (from
//! `/proc/<pid>/cgroup` of its main process, for cgroup v1 with any driver and for the unified
//! v2 hierarchy, told apart by `/sys/fs/cgroup/cgroup.controllers`), and what they say
//! ([`CgroupStats`]: CPU seconds, memory usage, working set, RSS, cache, limit, OOM kills, block
//! I/O bytes). Every parser takes the file's text, so the formats are tested on their own.

use std::path::{Path, PathBuf};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The kernel's fixed unit of `cpuacct.stat` (USER_HZ): 100 ticks a second on every Linux
/// architecture the Engine runs on.
const USER_HZ: f64 = 100.0;
/// Memory limits at or above this mean "none" (cgroup v1 writes about 2^63 rounded down to a
/// page); they are reported as 0, as the Engine's own `HostConfig.Memory` does.
const NO_LIMIT_FROM: u64 = 1 << 62;

/// The directories of one container's cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPaths {
    /// cgroup v1: one directory per controller.
    V1 {
        cpuacct: PathBuf,
        memory: PathBuf,
        blkio: PathBuf,
    },
    /// cgroup v2: one directory for every controller.
    V2 { dir: PathBuf },
}

/// One reading of a container's cgroups. A file that cannot be read leaves its fields None, and
/// the series out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupStats {
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub memory_usage_bytes: Option<u64>,
    /// Usage less inactive file pages: what the kernel cannot reclaim easily (cAdvisor's
    /// definition, and what the OOM killer compares to the limit).
    pub memory_working_set_bytes: Option<u64>,
    pub memory_rss_bytes: Option<u64>,
    pub memory_cache_bytes: Option<u64>,
    /// 0 when the container has no limit.
    pub memory_limit_bytes: Option<u64>,
    /// Processes the kernel's OOM killer ended in this cgroup.
    pub oom_kills: Option<u64>,
    pub fs_read_bytes: Option<u64>,
    pub fs_write_bytes: Option<u64>,
}

impl CgroupPaths {
    /// The cgroups of process `pid`, or why they cannot be found (no such process, no readable
    /// `/proc/<pid>/cgroup`, a controller missing).
    pub fn of_process(pid: u32) -> Result<Self, String> {
        let file = format!("/proc/{pid}/cgroup");
        let text = std::fs::read_to_string(&file).map_err(|error| format!("{file}: {error}"))?;
        let unified = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
        Self::parse(&text, Path::new(CGROUP_ROOT), unified).ok_or_else(|| {
            format!(
                "{file} names no {} cgroup",
                if unified {
                    "v2"
                } else {
                    "cpuacct/memory/blkio"
                }
            )
        })
    }

    /// The directories `/proc/<pid>/cgroup`'s `text` names under `root`: the `0::<path>` line on
    /// a unified (v2) host, else the `<n>:<controllers>:<path>` line of each v1 controller
    /// (its hierarchy mounted at `root/<controllers>`, e.g. `cpu,cpuacct`).
    pub fn parse(text: &str, root: &Path, unified: bool) -> Option<Self> {
        let lines = text.lines().filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((controllers, path.trim_start_matches('/')))
        });
        if unified {
            let (_, path) = lines
                .into_iter()
                .find(|(controllers, _)| controllers.is_empty())?;
            return Some(Self::V2 {
                dir: root.join(path),
            });
        }
        let mut found: [Option<PathBuf>; 3] = [None, None, None];
        for (controllers, path) in lines {
            for (slot, wanted) in found.iter_mut().zip(["cpuacct", "memory", "blkio"]) {
                if controllers
                    .split(',')
                    .any(|controller| controller == wanted)
                {
                    *slot = Some(root.join(controllers).join(path));
                }
            }
        }
        let [cpuacct, memory, blkio] = found;
        Some(Self::V1 {
            cpuacct: cpuacct?,
            memory: memory?,
            blkio: blkio?,
        })
    }

    /// Reads the container's figures now.
    pub fn read(&self) -> CgroupStats {
        let text = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let mut stats = CgroupStats::default();
        match self {
            Self::V1 {
                cpuacct,
                memory,
                blkio,
            } => {
                stats.cpu_usage_seconds = text(cpuacct, "cpuacct.usage")
                    .and_then(|usage| usage.trim().parse::<u64>().ok())
                    .map(|nanoseconds| nanoseconds as f64 / 1e9);
                if let Some(stat) = text(cpuacct, "cpuacct.stat") {
                    let ticks = |key| flat_keyed(&stat, key).map(|ticks| ticks as f64 / USER_HZ);
                    stats.cpu_user_seconds = ticks("user");
                    stats.cpu_system_seconds = ticks("system");
                }
                let usage = text(memory, "memory.usage_in_bytes")
                    .and_then(|usage| usage.trim().parse::<u64>().ok());
                let stat = text(memory, "memory.stat").unwrap_or_default();
                stats.set_memory(
                    usage,
                    flat_keyed(&stat, "total_rss"),
                    flat_keyed(&stat, "total_cache"),
                    flat_keyed(&stat, "total_inactive_file"),
                );
                stats.memory_limit_bytes =
                    text(memory, "memory.limit_in_bytes").and_then(|limit| parse_limit(&limit));
                stats.oom_kills = text(memory, "memory.oom_control")
                    .and_then(|control| flat_keyed(&control, "oom_kill"));
                if let Some(io) = text(blkio, "blkio.throttle.io_service_bytes") {
                    let (read, write) = v1_io_bytes(&io);
                    (stats.fs_read_bytes, stats.fs_write_bytes) = (Some(read), Some(write));
                }
            }
            Self::V2 { dir } => {
                if let Some(cpu) = text(dir, "cpu.stat") {
                    let seconds = |key| flat_keyed(&cpu, key).map(|micros| micros as f64 / 1e6);
                    stats.cpu_usage_seconds = seconds("usage_usec");
                    stats.cpu_user_seconds = seconds("user_usec");
                    stats.cpu_system_seconds = seconds("system_usec");
                }
                let usage =
                    text(dir, "memory.current").and_then(|usage| usage.trim().parse::<u64>().ok());
                let stat = text(dir, "memory.stat").unwrap_or_default();
                stats.set_memory(
                    usage,
                    flat_keyed(&stat, "anon"),
                    flat_keyed(&stat, "file"),
                    flat_keyed(&stat, "inactive_file"),
                );
                stats.memory_limit_bytes =
                    text(dir, "memory.max").and_then(|limit| parse_limit(&limit));
                stats.oom_kills =
                    text(dir, "memory.events").and_then(|events| flat_keyed(&events, "oom_kill"));
                if let Some(io) = text(dir, "io.stat") {
                    let (read, write) = v2_io_bytes(&io);
                    (stats.fs_read_bytes, stats.fs_write_bytes) = (Some(read), Some(write));
                }
            }
        }
        stats
    }
}

impl CgroupStats {
    fn set_memory(
        &mut self,
        usage: Option<u64>,
        rss: Option<u64>,
        cache: Option<u64>,
        inactive_file: Option<u64>,
    ) {
        self.memory_usage_bytes = usage;
        self.memory_working_set_bytes =
            usage.map(|usage| usage.saturating_sub(inactive_file.unwrap_or(0)));
        self.memory_rss_bytes = rss;
        self.memory_cache_bytes = cache;
    }
}

/// The value of `key` in a flat keyed file (`key value` lines: `memory.stat`, `cpu.stat`,
/// `memory.events`, `memory.oom_control`, `cpuacct.stat`).
pub fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// A memory limit file's value in bytes, 0 for none (`max`, or v1's near-2^63).
pub fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return Some(0);
    }
    let limit: u64 = text.parse().ok()?;
    Some(if limit >= NO_LIMIT_FROM { 0 } else { limit })
}

/// Bytes read and written over every device, from v1's `blkio.throttle.io_service_bytes`
/// (`<major>:<minor> Read <bytes>` lines, and a `Total` line).
pub fn v1_io_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(op), Some(bytes)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(bytes) = bytes.parse::<u64>() else {
            continue;
        };
        match op {
            "Read" => read = read.saturating_add(bytes),
            "Write" => write = write.saturating_add(bytes),
            _ => {}
        }
    }
    (read, write)
}

/// Bytes read and written over every device, from v2's `io.stat`
/// (`<major>:<minor> rbytes=<n> wbytes=<n> rios=<n> …` lines).
pub fn v2_io_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "rbytes" => read = read.saturating_add(value),
            "wbytes" => write = write.saturating_add(value),
            _ => {}
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_PROC: &str = "9:name=systemd:/docker/abc\n7:blkio:/docker/abc\n\
                           4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n";

    #[test]
    fn v1_and_v2_cgroups_are_found_from_proc_pid_cgroup() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(
            CgroupPaths::parse(V1_PROC, root, false),
            Some(CgroupPaths::V1 {
                cpuacct: root.join("cpu,cpuacct/docker/abc"),
                memory: root.join("memory/docker/abc"),
                blkio: root.join("blkio/docker/abc"),
            })
        );
        assert_eq!(
            CgroupPaths::parse("0::/system.slice/docker-abc.scope\n", root, true),
            Some(CgroupPaths::V2 {
                dir: root.join("system.slice/docker-abc.scope"),
            })
        );
        assert_eq!(
            CgroupPaths::parse("4:memory:/docker/abc\n", root, false),
            None
        );
    }

    #[test]
    fn flat_keyed_files_limits_and_io_parse() {
        let stat = "cache 1507328\nrss 57344\ntotal_rss 57344\ntotal_inactive_file 1507328\n";
        assert_eq!(flat_keyed(stat, "rss"), Some(57344));
        assert_eq!(flat_keyed(stat, "total_rss"), Some(57344));
        assert_eq!(flat_keyed(stat, "swap"), None);
        assert_eq!(
            flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(parse_limit("9223372036854771712\n"), Some(0));
        assert_eq!(parse_limit("max\n"), Some(0));
        assert_eq!(parse_limit("8388608\n"), Some(8 << 20));
        assert_eq!(parse_limit("lots"), None);
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 1\n8:0 Total 12288\nTotal 12289\n";
        assert_eq!(v1_io_bytes(v1), (4097, 8192));
        let v2 = "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n\
                  8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n";
        assert_eq!(v2_io_bytes(v2), (101, 202));
    }

    #[test]
    fn working_set_is_usage_less_inactive_file() {
        let mut stats = CgroupStats::default();
        stats.set_memory(Some(10_000), Some(3_000), Some(7_000), Some(6_000));
        assert_eq!(stats.memory_working_set_bytes, Some(4_000));
        stats.set_memory(Some(1_000), None, None, Some(6_000));
        assert_eq!(stats.memory_working_set_bytes, Some(0));
    }
}
