//! Reading a process's CPU time and peak RSS from /proc, and running a command while sampling
//! them (a process's /proc entry disappears when it is reaped).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// CPU time (user + system) and peak resident set size of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcUsage {
    pub(crate) cpu_seconds: f64,
    pub(crate) peak_rss_bytes: u64,
}

/// Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux in practice).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of `pid` and its VmHWM, or `None` once the process is gone.
pub(crate) fn read_usage(pid: u32) -> Option<ProcUsage> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcUsage {
        cpu_seconds: parse_cpu_ticks(&stat)? as f64 / clock_ticks_per_second(),
        peak_rss_bytes: parse_vm_hwm_bytes(&status)?,
    })
}

/// Fields 14 and 15 (utime, stime) of /proc/PID/stat; the command name may contain spaces and
/// parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after the name, field 3 (state) is index 0, so field N is index N - 3
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

pub(crate) fn parse_vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The outcome of a measured command.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) status: ExitStatus,
    pub(crate) usage: ProcUsage,
    pub(crate) wall: Duration,
    pub(crate) stderr: String,
}

/// Runs `command` to completion (at most `limit`), sampling its /proc usage every 20 ms.
pub(crate) fn run_measured(command: &mut Command, limit: Duration) -> Result<Measured> {
    let program = command.get_program().to_string_lossy().into_owned();
    let stderr_path =
        std::env::temp_dir().join(format!("contrail-bench-{}-stderr", std::process::id()));
    let stderr_file = fs::File::create(&stderr_path)
        .map_err(|source| Error::io("create", &stderr_path, source))?;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .map_err(|source| Error::io("start", &program, source))?;
    let started = Instant::now();
    let mut usage = ProcUsage::default();
    let status = loop {
        if let Some(sample) = read_usage(child.id()) {
            usage = sample;
        }
        if let Some(status) = child
            .try_wait()
            .map_err(|source| Error::io("wait for", &program, source))?
        {
            break status;
        }
        if started.elapsed() > limit {
            stop(&mut child);
            return Err(Error::Bench(format!("{program} ran longer than {limit:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = fs::remove_file(&stderr_path);
    Ok(Measured {
        status,
        usage,
        wall: started.elapsed(),
        stderr,
    })
}

/// Stops a child: SIGTERM (via `kill`), then SIGKILL after 10 s.
pub(crate) fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Total size of the files under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let path = entry.path();
            match entry.metadata() {
                Ok(metadata) if metadata.is_dir() => dir_bytes(&path),
                Ok(metadata) => metadata.len(),
                Err(_) => 0,
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 1000 10";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        let status = "Name:\tx\nVmPeak:\t 9999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_vm_hwm_bytes(status), Some(2048 * 1024));
    }

    #[test]
    fn reads_this_process() {
        let usage = read_usage(std::process::id()).expect("own /proc entry");
        assert!(usage.peak_rss_bytes > 1024 * 1024);
        assert!(usage.cpu_seconds >= 0.0);
    }
}
