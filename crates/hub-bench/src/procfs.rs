//! Reads the two numbers the bench needs about a process from `/proc`: resident memory
//! (`VmRSS` in `/proc/<pid>/status`) and CPU time (`utime + stime` in `/proc/<pid>/stat`).
//!
//! Parsing is kept apart from reading so it can be tested on captured text.

use std::time::Duration;

use anyhow::{Context, bail};

/// Which process to sample: the server under test, or this load generator itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    Pid(u32),
    OwnProcess,
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
            Proc::OwnProcess => format!("/proc/self/{file}"),
        }
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(self) -> anyhow::Result<u64> {
        let path = self.path("status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_vm_rss_bytes(&text).with_context(|| format!("no VmRSS line in {path}"))
    }

    /// User plus system CPU time consumed so far.
    pub fn cpu_time(self) -> anyhow::Result<Duration> {
        let path = self.path("stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = parse_cpu_ticks(&text).with_context(|| format!("cannot parse {path}"))?;
        Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
    }

    /// Fails early, with a clear message, if the process is not there.
    pub fn check_exists(self) -> anyhow::Result<()> {
        let path = self.path("stat");
        if std::fs::metadata(&path).is_err() {
            bail!("no such process: {path} is missing");
        }
        Ok(())
    }
}

/// CPU time every process on the machine has used so far (busy ticks of all CPUs from the
/// first line of `/proc/stat`), to tell when something besides the server and the load
/// generator was competing for the cores.
pub fn machine_busy_time() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_machine_busy_ticks(&text).context("cannot parse /proc/stat")?;
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// `cpu  user nice system idle iowait irq softirq steal …` → user + nice + system + irq +
/// softirq + steal (guest time is already inside user).
pub fn parse_machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    if f.len() < 4 {
        return None;
    }
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// This process's soft limit on open files (`Max open files` in `/proc/self/limits`).
pub fn max_open_files() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    parse_max_open_files(&text).context("no 'Max open files' line in /proc/self/limits")
}

pub fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// `sysconf(_SC_CLK_TCK)`: the unit of the CPU fields in `/proc/<pid>/stat` (100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

pub fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    let per_sec = ticks_per_second.max(1);
    let secs = ticks / per_sec;
    let rem = ticks % per_sec;
    Duration::from_secs(secs) + Duration::from_nanos(rem * 1_000_000_000 / per_sec)
}

/// `VmRSS:   12345 kB` → bytes.
pub fn parse_vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    let multiplier = match fields.next() {
        Some("kB") | None => 1024,
        Some("mB") => 1024 * 1024,
        Some(_) => return None,
    };
    Some(value * multiplier)
}

/// `utime + stime` in clock ticks from one line of `/proc/<pid>/stat`.
///
/// Field 2 (`comm`) is in parentheses and may itself contain spaces and `)`, so fields are
/// counted from the last `)`: after it come state (field 3) … utime (14) and stime (15).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    // Field 3 is the first after `comm`, so utime (14) is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tnode\nVmPeak:\t 1000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 40000 kB\n";
        assert_eq!(parse_vm_rss_bytes(status), Some(51234 * 1024));
        assert_eq!(parse_vm_rss_bytes("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn cpu_ticks_survive_a_comm_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        let stat = "4242 (node (peer) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 11 0 99 \
                    1000000 12000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_cpu_ticks("4242 (node) S 1 2"), None);
    }

    #[test]
    fn open_file_limit_is_the_soft_one() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(parse_max_open_files(limits), Some(20_000));
        assert_eq!(parse_max_open_files("Max processes 10 10\n"), None);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  147913 1045 19318 153501 1477 10 1133 74 0 0\ncpu0 72825 509 9114 78817 233 0 672 34 0 0\n";
        assert_eq!(parse_machine_busy_ticks(stat), Some(147_913 + 1_045 + 19_318 + 10 + 1_133 + 74));
        assert_eq!(parse_machine_busy_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn ticks_become_seconds_with_clk_tck() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 100), Duration::from_millis(10));
    }

    #[test]
    fn own_process_can_be_sampled() {
        let me = Proc::OwnProcess;
        assert!(me.rss_bytes().unwrap() > 0);
        me.cpu_time().unwrap();
        assert_eq!(clock_ticks_per_second(), 100);
    }
}
