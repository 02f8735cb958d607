//! A container's network counters from `/proc/<pid>/net/dev` of its main process, which shows
//! the interfaces of the container's network namespace as seen from the host: bytes, packets,
//! errors and drops per interface, loopback left out (as cAdvisor does).

/// One interface's counters since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    pub interface: String,
    pub receive_bytes: u64,
    pub receive_packets: u64,
    pub receive_errors: u64,
    pub receive_dropped: u64,
    pub transmit_bytes: u64,
    pub transmit_packets: u64,
    pub transmit_errors: u64,
    pub transmit_dropped: u64,
}

/// The interfaces of process `pid`'s network namespace; none when the file cannot be read
/// (the process ended).
pub fn read(pid: u32) -> Vec<InterfaceStats> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Parses `/proc/net/dev`: two header lines, then `<name>: <8 receive> <8 transmit>` columns
/// (bytes, packets, errs, drop, fifo, frame/colls, compressed, multicast/carrier).
pub fn parse(text: &str) -> Vec<InterfaceStats> {
    text.lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let values: Vec<u64> = counters
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let value = |index: usize| values.get(index).copied();
            Some(InterfaceStats {
                interface: name.to_owned(),
                receive_bytes: value(0)?,
                receive_packets: value(1)?,
                receive_errors: value(2)?,
                receive_dropped: value(3)?,
                transmit_bytes: value(8)?,
                transmit_packets: value(9)?,
                transmit_errors: value(10)?,
                transmit_dropped: value(11)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_but_loopback_are_read() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:       5       1    0    0    0     0          0         0        5       1    0    0    0     0       0          0\n  \
             eth0:     286       3    1    2    0     0          0         0      140       2    3    4    0     0       0          0\n";
        assert_eq!(
            parse(text),
            vec![InterfaceStats {
                interface: "eth0".to_owned(),
                receive_bytes: 286,
                receive_packets: 3,
                receive_errors: 1,
                receive_dropped: 2,
                transmit_bytes: 140,
                transmit_packets: 2,
                transmit_errors: 3,
                transmit_dropped: 4,
            }]
        );
        assert_eq!(parse("eth0: 1 2 3\n"), Vec::new());
    }
}
