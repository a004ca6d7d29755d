//! Child processes measured whole: wall time from spawn to reaped, and their peak resident
//! set, or a running process's `VmHWM`.
//!
//! The peak of a process we spawn directly is not its own: exec records the peak of the memory
//! it replaces, and a child spawned from this process (with `CLONE_VM`, as std does) replaces
//! ours, so its `ru_maxrss` is at least this bench's resident set. GNU time in between is a
//! small fresh process whose forked child execs the program: the peak it reports is the
//! program's. It costs every contender the same extra fork and exec.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIME: &str = "/usr/bin/time";

/// One finished run.
pub struct Run {
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
    pub stdout: Vec<u8>,
    pub success: bool,
}

/// Runs `program` with `args` to its end, writing the `exchange` lines to stdin one by one,
/// each followed by reading the number of stdout lines it is answered with (a JSON-RPC
/// exchange), then closing stdin; stdout is kept.
pub fn run<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    env: &[(&str, &str)],
    exchange: &[(&str, usize)],
) -> Run {
    let peak_file = std::env::temp_dir().join(format!(
        "side-by-side-peak-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let timed = Path::new(TIME).is_file();
    let mut command = if timed {
        let mut command = Command::new(TIME);
        command
            .arg("--format=%M")
            .arg("--output")
            .arg(&peak_file)
            .arg(program);
        command
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().expect("the process starts");
    let pid = child.id() as libc::pid_t;
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut kept = Vec::new();
    for (line, answers) in exchange {
        stdin.write_all(line.as_bytes()).expect("a request written");
        stdin.write_all(b"\n").expect("a request written");
        stdin.flush().expect("a request written");
        for _ in 0..*answers {
            let mut answer = Vec::new();
            stdout.read_until(b'\n', &mut answer).expect("an answer");
            kept.extend_from_slice(&answer);
        }
    }
    drop(stdin);
    stdout.read_to_end(&mut kept).expect("stdout read");
    let (status, reaped_peak) = reap(pid);
    let elapsed = started.elapsed();
    let peak_rss_kib = if timed {
        let peak = std::fs::read_to_string(&peak_file).unwrap_or_default();
        let _ = std::fs::remove_file(&peak_file);
        peak.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    } else {
        reaped_peak
    };
    // Reaped above: the Child must not wait on the pid again.
    std::mem::forget(child);
    Run {
        elapsed,
        peak_rss_kib,
        stdout: kept,
        success: status == 0,
    }
}

/// Waits for `pid`: its exit status word and its peak RSS in KiB.
fn reap(pid: libc::pid_t) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 reaped the child");
    (status, usage.ru_maxrss as u64)
}

/// A running process's peak resident set (`VmHWM`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
