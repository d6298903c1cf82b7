//! Child processes under measurement: spawn with captured output, wait with `wait4` for the
//! exit status and the child's resource usage (`ru_maxrss`, which on Linux also covers the
//! descendants it reaped), and kill it, with every process it started, when it overruns its
//! time limit.
//!
//! Invariant: the wall time is taken from just before `spawn` to the moment the child's exit
//! is seen (`waitid` with `WNOWAIT`); the child is reaped exactly once, by `wait4`, after the
//! watchdog has stopped (the std `Child` is never waited on), so the watchdog never signals a
//! recycled process id. A child killed for its time limit takes its descendants with it (a
//! `g++` leaves no `cc1plus` running, holding the output pipes open).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A finished child.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Wall time from spawn to reaping.
    pub secs: f64,
    /// Peak resident set size in KiB (`ru_maxrss`).
    pub maxrss_kib: u64,
    /// User plus system CPU time of the child and the descendants it reaped, in seconds.
    pub cpu_secs: f64,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Terminating signal, if it was killed by one.
    pub signal: Option<i32>,
    /// Whether the time limit killed it.
    pub timed_out: bool,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

impl Finished {
    /// `Ok` for exit status 0, otherwise a one-line description with the end of stderr.
    pub fn success(&self) -> Result<(), String> {
        if self.timed_out {
            return Err("timed out".into());
        }
        match (self.code, self.signal) {
            (Some(0), _) => Ok(()),
            (c, s) => {
                let tail: Vec<&str> = self.stderr.lines().rev().take(3).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let what = match (c, s) {
                    (Some(c), _) => format!("exit status {c}"),
                    (_, Some(s)) => format!("killed by signal {s}"),
                    _ => "unknown status".into(),
                };
                Err(format!("{what}: {}", tail.join(" | ")))
            }
        }
    }
}

/// A running child with its output being collected.
pub struct Running {
    child: Child,
    start: Instant,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

fn collect(r: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    r.map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

impl Running {
    /// Spawns `cmd` with stdout and stderr captured (stdin is left as configured, or null).
    pub fn spawn(cmd: &mut Command) -> Result<Running, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let out = collect(child.stdout.take());
        let err = collect(child.stderr.take());
        Ok(Running {
            child,
            start,
            out,
            err,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has exited (without reaping it: `wait` still measures it, and its id
    /// stays ours until then).
    pub fn has_exited(&self) -> bool {
        // SAFETY: siginfo_t is plain old data; zeroed is a valid value (si_pid 0: no exit).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid out-pointer for the duration of the call; the id is our
        // unreaped child.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled info (or left it zeroed): the pid field is initialised.
        r == 0 && unsafe { info.si_pid() } != 0
    }

    /// Waits for the child (killing it after `limit`) and returns its measurements.
    pub fn wait(self, limit: Duration) -> Result<Finished, String> {
        let pid = self.child.id() as libc::pid_t;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if done_rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                kill_tree(pid);
                return true;
            }
            false
        });
        // Wait for the exit without reaping: until wait4 below, `pid` stays ours (a zombie at
        // worst), so the watchdog cannot signal another process that got its number.
        let seen = loop {
            // SAFETY: siginfo_t is plain old data; zeroed is a valid value.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: info is a valid out-pointer for the duration of the call.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break r;
        };
        let secs = self.start.elapsed().as_secs_f64();
        let _ = done_tx.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; zeroed is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = loop {
            // SAFETY: status and usage are valid out-pointers for the duration of the call.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break r;
        };
        let stdout = self
            .out
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .err
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        std::mem::forget(self.child);
        if r != pid {
            return Err(format!(
                "wait4({pid}) failed (waitid: {seen}): {}",
                std::io::Error::last_os_error()
            ));
        }
        let (code, signal) = if libc::WIFEXITED(status) {
            (Some(libc::WEXITSTATUS(status)), None)
        } else if libc::WIFSIGNALED(status) {
            (None, Some(libc::WTERMSIG(status)))
        } else {
            (None, None)
        };
        Ok(Finished {
            secs,
            maxrss_kib: usage.ru_maxrss.max(0) as u64,
            cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
            code,
            signal,
            timed_out,
            stdout,
            stderr,
        })
    }
}

/// The parent process id in a `/proc/<pid>/stat` text (the field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses).
fn stat_ppid(stat: &str) -> Option<libc::pid_t> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| stat_ppid(&s))
                == Some(pid)
        })
        .collect()
}

/// Kills `pid` (our unreaped child) and every process it started. Each process is stopped
/// before its children are looked up, so none forks after it was looked at; then all are
/// killed. A stopped process cannot exit, so its id is not recycled in between.
fn kill_tree(pid: libc::pid_t) {
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        // SAFETY: kill has no memory preconditions; the id is our child or one of its
        // descendants just found (stopped below, so it stays that process).
        unsafe { libc::kill(tree[i], libc::SIGSTOP) };
        for c in children(tree[i]) {
            if !tree.contains(&c) {
                tree.push(c);
            }
        }
        i += 1;
    }
    for &p in &tree {
        // SAFETY: as above; every process of the tree is stopped.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Spawns `cmd`, waits for it (at most `limit`) and returns its measurements.
pub fn measure(cmd: &mut Command, limit: Duration) -> Result<Finished, String> {
    Running::spawn(cmd)?.wait(limit)
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_id_is_read_after_the_command_name() {
        assert_eq!(stat_ppid("42 (sh) S 7 42 42 0 -1"), Some(7));
        assert_eq!(stat_ppid("43 (a) b (c) R 9 43 1"), Some(9));
        assert_eq!(stat_ppid("garbage"), None);
    }
}
