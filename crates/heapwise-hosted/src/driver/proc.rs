//! Child processes under measurement: spawn with captured output, wait with `wait4` for the
//! exit status and the child's resource usage (`ru_maxrss`, which on Linux also covers the
//! descendants it reaped), and kill it when it overruns its time limit.
//!
//! Invariant: the wall time is taken from just before `spawn` to the return of `wait4`; the
//! child is reaped exactly once, by `wait4` (the std `Child` is never waited on).

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

    /// Waits for the child (killing it after `limit`) and returns its measurements.
    pub fn wait(self, limit: Duration) -> Result<Finished, String> {
        let pid = self.child.id() as libc::pid_t;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if done_rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                // SAFETY: kill has no memory preconditions; pid is our unreaped child (it
                // cannot be recycled before wait4 below reaps it).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return true;
            }
            false
        });
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
        let secs = self.start.elapsed().as_secs_f64();
        let _ = done_tx.send(());
        let timed_out = watchdog.join().unwrap_or(false);
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
                "wait4({pid}) failed: {}",
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

/// Spawns `cmd`, waits for it (at most `limit`) and returns its measurements.
pub fn measure(cmd: &mut Command, limit: Duration) -> Result<Finished, String> {
    Running::spawn(cmd)?.wait(limit)
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}
