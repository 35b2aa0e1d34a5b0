//! The standard `process_*` series, read from /proc at each scrape as the
//! Prometheus client libraries do (nothing on a system without /proc).

/// Clock ticks per second in /proc: USER_HZ, fixed at 100 in the kernel's
/// ABI on every architecture (Prometheus' own procfs reader assumes it too).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

pub fn sample() -> ProcessSample {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
    let cpu_seconds = ticks(UTIME).zip(ticks(STIME)).map(|(user, system)| (user + system) as f64 / TICKS_PER_SECOND);
    let boot_time = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(boot_time_seconds);
    let start_time_seconds =
        ticks(STARTTIME).zip(boot_time).map(|(start, boot)| boot as f64 + start as f64 / TICKS_PER_SECOND);
    let resident_bytes = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(resident_bytes);
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count() as u64);
    let max_fds = rlimit::Resource::NOFILE.get().ok().map(|(soft, _hard)| soft);
    ProcessSample { cpu_seconds, resident_bytes, open_fds, max_fds, start_time_seconds }
}

// Indexes into the fields after the command name, which may hold spaces
// and parentheses: field 3 (state) of proc(5) is index 0.
const UTIME: usize = 11;
const STIME: usize = 12;
const STARTTIME: usize = 19;

fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default()
}

fn boot_time_seconds(stat: &str) -> Option<u64> {
    stat.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|value| value.trim().parse().ok())
}

fn resident_bytes(status: &str) -> Option<u64> {
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (relay (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 \
                    1000000 2000 18446744073709551615";
        let fields = stat_fields(stat);
        assert_eq!((fields[0], fields[UTIME], fields[STIME], fields[STARTTIME]), ("S", "250", "50", "12345"));
        assert_eq!(boot_time_seconds("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
        assert_eq!(resident_bytes("Name:\trelay\nVmRSS:\t   2048 kB\n"), Some(2048 * 1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_every_value() {
        let sample = sample();
        assert!(sample.cpu_seconds.is_some_and(|seconds| seconds >= 0.0), "{sample:?}");
        assert!(sample.resident_bytes.is_some_and(|bytes| bytes > 1024 * 1024), "{sample:?}");
        assert!(sample.open_fds.zip(sample.max_fds).is_some_and(|(open, max)| open >= 3 && max >= open), "{sample:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(sample.start_time_seconds.is_some_and(|start| start <= now + 1.0 && start > now - 86_400.0 * 365.0));
    }
}
