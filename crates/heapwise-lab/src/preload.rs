//! `heapwise run` and `heapwise record`: run a command with `libheapwise.so` preloaded.
//!
//! The library is `$HEAPWISE_LIB` if set, else `libheapwise.so` beside the `heapwise`
//! executable (cargo puts both in the same target directory). `heapwise` then `exec`s the
//! command: the command takes its place (same process id), so a signal sent to it (a
//! supervisor's `SIGTERM`, a `kill`) reaches the command, none is left running behind a dead
//! `heapwise`, and the exit status is the command's own (a shell shows 128 + signal number
//! when it was killed by a signal).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The library's file name.
pub const LIB_NAME: &str = "libheapwise.so";

/// Where the preload library is, or why it cannot be found.
pub fn find_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HEAPWISE_LIB") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "HEAPWISE_LIB is {}, which is not a file",
                p.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate heapwise: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let p = dir.join(LIB_NAME);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{LIB_NAME} not found beside {} (build it with `cargo build --release -p heapwise-preload`, or set HEAPWISE_LIB)",
            exe.display()
        ))
    }
}

/// Replaces this process with `cmd`, run with the library preloaded and the extra
/// environment `env`. Returns only when the command cannot be started, with the reason
/// (exit status 2).
pub fn exec_preloaded(lib: &Path, cmd: &[OsString], env: &[(&str, OsString)]) -> String {
    use std::os::unix::process::CommandExt;
    let Some((prog, args)) = cmd.split_first() else {
        return "no command given".into();
    };
    let mut preload = lib.as_os_str().to_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut c = Command::new(prog);
    c.args(args).env("LD_PRELOAD", preload);
    for (k, v) in env {
        c.env(k, v);
    }
    let e = c.exec();
    format!("cannot run {}: {e}", prog.to_string_lossy())
}
