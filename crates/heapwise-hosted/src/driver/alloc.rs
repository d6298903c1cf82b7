//! The allocators under comparison and how a child is put under each: heapwise and the Debian
//! builds of jemalloc, mimalloc and tcmalloc through `LD_PRELOAD`, glibc with no preload.
//!
//! Invariant: an allocator whose shared object is missing is kept in the list with a note
//! (reported in the tables as skipped), never silently dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One column of the tables.
#[derive(Clone, Debug)]
pub struct Allocator {
    /// Column name: `heapwise`, `glibc`, `jemalloc`, `mimalloc`, `tcmalloc`.
    pub name: &'static str,
    /// The shared object to preload (`None` for glibc).
    pub preload: Option<PathBuf>,
    /// Why the allocator is skipped, if it is.
    pub missing: Option<String>,
    /// A substring of the file name `malloc` must resolve to under this allocator.
    pub marker: &'static str,
    /// Extra environment for runs under this allocator (e.g. `HEAPWISE_POLICY`).
    pub env: Vec<(String, String)>,
    /// Why the Rust-level rows are not measured for this column (they show `–` and stay
    /// out of its geomeans), if they are not.
    pub rust_na: Option<&'static str>,
}

impl Allocator {
    /// Whether it can run.
    pub fn available(&self) -> bool {
        self.missing.is_none()
    }

    /// Sets (or clears) `LD_PRELOAD` on `cmd` for this allocator; other heapwise options
    /// inherited from the environment are cleared so they do not slow a run down.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env_remove("LD_PRELOAD");
        for v in [
            "HEAPWISE_STATS",
            "HEAPWISE_STATS_FILE",
            "HEAPWISE_TRACE",
            "HEAPWISE_POLICY",
        ] {
            cmd.env_remove(v);
        }
        if let Some(p) = &self.preload {
            cmd.env("LD_PRELOAD", p);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }
}

/// Where Debian puts shared libraries.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
];

fn find_lib(names: &[&str]) -> Option<PathBuf> {
    for d in LIB_DIRS {
        for n in names {
            let p = Path::new(d).join(n);
            if p.exists() {
                return Some(p);
            }
        }
    }
    None
}

fn system(name: &'static str, names: &[&str], package: &str, marker: &'static str) -> Allocator {
    let preload = find_lib(names);
    let missing = preload.is_none().then(|| {
        format!(
            "{} not found (apt-get install {package}; see scripts/install-bench-deps.sh)",
            names[0]
        )
    });
    Allocator {
        name,
        preload,
        missing,
        marker,
        env: Vec::new(),
        rust_na: None,
    }
}

/// The five allocators, heapwise first, with `heapwise_lib` as heapwise's preload.
pub fn all(heapwise_lib: Result<PathBuf, String>) -> Vec<Allocator> {
    let (preload, missing) = match heapwise_lib {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    vec![
        Allocator {
            name: "heapwise",
            preload,
            missing,
            marker: "libheapwise",
            env: Vec::new(),
            rust_na: None,
        },
        Allocator {
            name: "glibc",
            preload: None,
            missing: None,
            marker: "libc.so",
            env: Vec::new(),
            rust_na: None,
        },
        system(
            "jemalloc",
            &["libjemalloc.so.2", "libjemalloc.so"],
            "libjemalloc2",
            "libjemalloc",
        ),
        system(
            "mimalloc",
            &["libmimalloc.so.2", "libmimalloc.so.2.0", "libmimalloc.so"],
            "libmimalloc2.0",
            "libmimalloc",
        ),
        system(
            "tcmalloc",
            &["libtcmalloc_minimal.so.4", "libtcmalloc_minimal.so"],
            "libtcmalloc-minimal4",
            "libtcmalloc",
        ),
    ]
}

/// Why an `--extra` column has no Rust-level rows.
pub const EXTRA_RUST_NA: &str = "an extra library would serve them only as Rust's `System` \
    over the preload, another mechanism than the heapwise column's `#[global_allocator]`";

/// Why the heapwise column has no Rust-level rows under `--heapwise-policy`.
pub const POLICY_RUST_NA: &str = "`heapwise::Heapwise` always runs the default policy; \
    HEAPWISE_POLICY applies to the preloaded rows only";

/// An extra preloaded column from `NAME=PATH` (e.g. `before=/tmp/libheapwise-before.so`, to
/// compare two builds of heapwise in the same run). The names are leaked: the driver makes a
/// handful, once. Its Rust-level rows are
/// not measured ([`EXTRA_RUST_NA`]).
pub fn extra(spec: &str) -> Result<Allocator, String> {
    let (name, path) = spec
        .split_once('=')
        .ok_or_else(|| format!("--extra {spec:?}: expected NAME=PATH"))?;
    let path = absolute(Path::new(path));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| format!("--extra {spec:?}: no file name"))?;
    let missing = (!path.exists()).then(|| format!("{} does not exist", path.display()));
    Ok(Allocator {
        name: Box::leak(name.to_string().into_boxed_str()),
        preload: Some(path),
        missing,
        marker: Box::leak(file.into_boxed_str()),
        env: Vec::new(),
        rust_na: Some(EXTRA_RUST_NA),
    })
}

/// `p` made absolute against the current directory (symbolic links are kept: the file name
/// is the column's marker). A preload path must not depend on the directory a program runs
/// in: `redis-server` runs in the scratch directory, where a relative `LD_PRELOAD` names
/// nothing and the loader ignores it.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The columns of one invocation: the five of [`all`], kept to `only` (names of those five;
/// glibc, the reference, always stays) when it is not empty, then one column per `--extra`
/// spec.
///
/// An error for a name in `only` that is none of the five (a typo would otherwise leave a
/// report of glibc alone), and for an extra column whose name is empty, not made of letters,
/// digits and `.`, `_`, `+`, `-` (it becomes a CSV field, a markdown cell and SVG text), or
/// already the name of a column: runs are filed by column name, so two columns of one name
/// would have their runs pooled into one median.
pub fn select(
    mut allocators: Vec<Allocator>,
    only: &[String],
    extras: &[String],
) -> Result<Vec<Allocator>, String> {
    if let Some(bad) = only
        .iter()
        .find(|x| !allocators.iter().any(|a| a.name == x.as_str()))
    {
        let known: Vec<&str> = allocators.iter().map(|a| a.name).collect();
        return Err(format!(
            "--allocators {bad:?}: no such allocator (known: {}; use --extra NAME=PATH for \
             another library)",
            known.join(", ")
        ));
    }
    if !only.is_empty() {
        allocators.retain(|a| a.name == "glibc" || only.iter().any(|x| x == a.name));
    }
    for spec in extras {
        let a = extra(spec)?;
        let fine = |c: char| c.is_ascii_alphanumeric() || "._+-".contains(c);
        if a.name.is_empty() || !a.name.chars().all(fine) {
            return Err(format!(
                "--extra {spec:?}: the name must be letters, digits, '.', '_', '+' or '-'"
            ));
        }
        if allocators.iter().any(|x| x.name == a.name) {
            return Err(format!(
                "--extra {spec:?}: there is already a column called {:?}",
                a.name
            ));
        }
        allocators.push(a);
    }
    Ok(allocators)
}

/// Finds `libheapwise.so`: `explicit`, else `HEAPWISE_LIB`, else next to the driver binary,
/// else builds it with `cargo build --release -p heapwise-preload` into the driver's target
/// directory.
pub fn heapwise_lib(explicit: Option<&Path>, bin_dir: &Path) -> Result<PathBuf, String> {
    // A missing file would only show in every heapwise run as "preload did not take" (the
    // loader ignores a preload it cannot open): the column is skipped with the reason instead.
    let given = |p: &Path, how: &str| {
        if p.is_file() {
            Ok(absolute(p))
        } else {
            Err(format!("{} ({how}) does not exist", p.display()))
        }
    };
    if let Some(p) = explicit {
        return given(p, "--heapwise-lib");
    }
    if let Some(p) = std::env::var_os("HEAPWISE_LIB") {
        return given(Path::new(&p), "HEAPWISE_LIB");
    }
    // bin_dir is <target>/release (or <target>/debug); the preload is built in release.
    let target = bin_dir.parent().unwrap_or(bin_dir);
    let lib = target.join("release").join("libheapwise.so");
    eprintln!(
        "heapwise-hosted: building libheapwise.so (cargo build --release -p heapwise-preload)"
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "heapwise-preload",
            "--target-dir",
        ])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status();
    match status {
        Ok(s) if s.success() && lib.exists() => Ok(lib),
        Ok(s) if lib.exists() => {
            eprintln!(
                "heapwise-hosted: cargo build failed ({s}); using the existing {}",
                lib.display()
            );
            Ok(lib)
        }
        Ok(s) => Err(format!("cargo build -p heapwise-preload failed: {s}")),
        Err(e) => Err(format!("cannot run cargo to build libheapwise.so: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five() -> Vec<Allocator> {
        all(Ok("/nonexistent/libheapwise.so".into()))
    }

    fn names(v: &[Allocator]) -> Vec<&str> {
        v.iter().map(|a| a.name).collect()
    }

    #[test]
    fn allocators_keeps_glibc_and_the_named_ones() {
        let v = select(five(), &["jemalloc".into()], &[]).unwrap();
        assert_eq!(names(&v), ["glibc", "jemalloc"]);
        assert_eq!(names(&select(five(), &[], &[]).unwrap()).len(), 5);
    }

    #[test]
    fn an_unknown_allocator_name_is_an_error() {
        let e = select(five(), &["jemaloc".into()], &[]).unwrap_err();
        assert!(
            e.contains("jemaloc") && e.contains("known: heapwise"),
            "{e}"
        );
    }

    #[test]
    fn an_extra_column_cannot_take_the_name_of_another() {
        for spec in [
            "heapwise=/tmp/libx.so",
            "glibc=/tmp/libx.so",
            "tcmalloc=/tmp/libx.so",
        ] {
            let e = select(five(), &[], &[spec.into()]).unwrap_err();
            assert!(e.contains("already a column"), "{spec}: {e}");
        }
        let e = select(
            five(),
            &[],
            &["old=/tmp/a.so".into(), "old=/tmp/b.so".into()],
        )
        .unwrap_err();
        assert!(e.contains("already a column"), "{e}");
        let v = select(five(), &[], &["old=/tmp/a.so".into()]).unwrap();
        assert_eq!(v.last().unwrap().name, "old");
    }

    #[test]
    fn preload_paths_are_absolute() {
        let e = extra("old=rel/libheapwise-old.so").unwrap();
        let p = e.preload.unwrap();
        assert!(p.is_absolute(), "{}", p.display());
        assert!(p.ends_with("rel/libheapwise-old.so"), "{}", p.display());
        assert_eq!(e.marker, "libheapwise-old.so");
        // An existing file named relatively: Cargo.toml (cargo runs the tests in the crate's
        // directory).
        let lib = heapwise_lib(Some(Path::new("Cargo.toml")), Path::new("/")).unwrap();
        assert!(lib.is_absolute(), "{}", lib.display());
        assert!(lib.is_file());
    }

    #[test]
    fn an_extra_name_must_be_safe_in_every_report() {
        for spec in [
            "=/tmp/a.so",
            "a,b=/tmp/a.so",
            "a|b=/tmp/a.so",
            "<x>=/tmp/a.so",
        ] {
            assert!(select(five(), &[], &[spec.into()]).is_err(), "{spec}");
        }
        assert!(select(five(), &[], &["s3-end=/tmp/a.so".into()]).is_ok());
    }
}
