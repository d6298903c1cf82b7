//! Malloc-lab trace files: the in-memory [`Trace`], its parser and its writer.
//!
//! A trace is a header of four numbers followed by one request per line:
//! `a id size` (`malloc`), `r id size` (`realloc`), `f id` (`free`). Two header variants
//! exist ([`Format`]); [`Format::Auto`] tells them apart (see [`Format::detect`]).
//!
//! Invariants of a parsed [`Trace`] (the parser rejects anything else with a
//! [`ParseError`] naming `file:line`):
//! * every id is `< num_ids`; ids are numbered densely `0..num_ids` in order of first use
//!   (a trace whose ids first appear as 0, 1, 2, ... — every generated or recorded trace and
//!   the CS:APP ones — keeps its ids; a sparse one such as `a 4000000000 8` is renumbered, so
//!   memory follows the number of ids used, never the largest);
//! * `a` names an id that is not live, `f` names an id that is live (`r` of an id that is
//!   not live is `realloc(NULL, n)`, i.e. a `malloc`, as in C);
//! * the number of request lines equals the header's operation count;
//! * it is not an unfinished recording (the recorder's placeholder header followed by
//!   requests: [`unfinished_recording`]), whose counts are unknown and whose last line may
//!   be cut;
//! * every size fits in `isize` (a size the heap cannot satisfy is *not* a parse error: it
//!   is reported as "out of memory" when replayed).

use std::fmt;
use std::path::{Path, PathBuf};

/// What one request line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `a id size`: `ptr[id] = malloc(size)`.
    Alloc,
    /// `r id size`: `ptr[id] = realloc(ptr[id], size)`.
    Realloc,
    /// `f id`: `free(ptr[id])`.
    Free,
}

/// One request of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// Which call.
    pub kind: OpKind,
    /// Block id, `< num_ids` (in a parsed trace, the file's ids renumbered densely in order
    /// of first use).
    pub id: u32,
    /// Requested size in bytes (0 for `f`).
    pub size: usize,
    /// 1-based line of the request in its file (0 for traces built in memory).
    pub line: u32,
}

/// The two header variants of malloc-lab trace files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Decide from the numbers (see [`Format::detect`]).
    #[default]
    Auto,
    /// The classic 2002 lab: `sugg_heapsize num_ids num_ops weight`.
    Classic,
    /// Later lab editions: `weight num_ids num_ops peak_live_payload`, one number per
    /// line, weight 0–3.
    New,
}

impl Format {
    /// Chooses the header variant of a header `h` whose body has peak live payload
    /// `peak` (as computed by [`Trace::peak_live`]).
    ///
    /// Weights are 0 or 1 in the classic lab and 0 to 3 in later editions (0 ignore,
    /// 1 all, 2 utilisation only, 3 throughput only). Rules, in order: a first number of at
    /// most 3 with a last number above 3 is the new variant (a weight first, a payload
    /// last); a last number of at most 3 is the classic variant (a weight last); otherwise
    /// the new variant if the last number equals the body's peak live payload, else
    /// classic.
    ///
    /// ```
    /// use heapwise_lab::trace::Format;
    /// assert_eq!(Format::detect([20000, 6, 12, 1], 8144), Format::Classic);
    /// assert_eq!(Format::detect([1, 6, 12, 8144], 8144), Format::New);
    /// ```
    pub fn detect(h: [u64; 4], peak: usize) -> Format {
        if h[0] <= 3 && h[3] > 3 {
            Format::New
        } else if h[3] <= 3 {
            Format::Classic
        } else if h[3] == peak as u64 {
            Format::New
        } else {
            Format::Classic
        }
    }
}

/// A parsed trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Short name (file stem, or the generator's kind).
    pub name: String,
    /// Where it came from (empty for generated traces).
    pub path: PathBuf,
    /// The header variant that was read (never `Auto`).
    pub format: Format,
    /// Number of ids: in a parsed trace, the number of distinct ids used (a header may
    /// announce more, and ids may be sparse; the tables of the replayers are this long).
    pub num_ids: u32,
    /// Weight from the header (informational).
    pub weight: u64,
    /// The requests.
    pub ops: Vec<Op>,
}

/// Where and why a trace file is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the whole file is at fault, e.g. unreadable).
    pub line: u32,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The peak of live requested bytes and the index of the request that first reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Peak {
    /// Peak sum of requested sizes of live blocks (mdriver's `max_total`).
    pub bytes: usize,
    /// Index into [`Trace::ops`] of the request after which it was first reached.
    pub op_index: Option<usize>,
}

impl Trace {
    /// Parses the text of a trace file. `file` is used in error messages and for the name.
    ///
    /// ```
    /// use heapwise_lab::trace::{Format, Trace};
    /// let t = Trace::parse("t.rep".as_ref(), "100\n2\n4\n1\na 0 10\na 1 20\nf 0\nf 1\n",
    ///                      Format::Auto).unwrap();
    /// assert_eq!((t.format, t.ops.len(), t.peak_live().bytes), (Format::Classic, 4, 30));
    /// ```
    pub fn parse(file: &Path, text: &str, format: Format) -> Result<Trace, ParseError> {
        let err = |line: usize, reason: String| ParseError {
            file: file.to_path_buf(),
            line: line as u32,
            reason,
        };
        if unfinished_recording(text) {
            return Err(err(1, UNFINISHED.into()));
        }
        // A UTF-8 byte-order mark (some Windows editors write one) is not part of the first
        // number; line ends may be `\n`, `\r\n` or a lone `\r`, all whitespace to mdriver's
        // `fscanf`.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = split_lines(text).enumerate().map(|(i, l)| (i + 1, l));
        // Header: four numbers, whitespace separated, possibly spread over lines.
        let mut header = [0u64; 4];
        let mut got = 0;
        let mut header_line = 1;
        'header: for (ln, l) in lines.by_ref() {
            let mut toks = l.split_whitespace();
            while let Some(tok) = toks.next() {
                header[got] = tok.parse::<u64>().map_err(|_| {
                    let reason = if is_number(tok) {
                        format!("header: {tok} is too large (at most {})", u64::MAX)
                    } else {
                        format!("header: expected a non-negative number, found `{tok}`")
                    };
                    err(ln, reason)
                })?;
                got += 1;
                header_line = ln;
                if got == 4 {
                    if let Some(extra) = toks.next() {
                        return Err(err(
                            ln,
                            format!("unexpected `{extra}` after the header's 4 numbers"),
                        ));
                    }
                    break 'header;
                }
            }
        }
        if got < 4 {
            return Err(err(
                header_line,
                format!("header: expected 4 numbers, found {got}"),
            ));
        }
        let num_ids = u32::try_from(header[1]).map_err(|_| {
            err(
                header_line,
                format!("header: {} ids is too many", header[1]),
            )
        })?;
        let num_ops = header[2];
        let mut ops = Vec::with_capacity(num_ops.min(1 << 24) as usize);
        // Ids are renumbered densely in order of first use, so the tables of the parser and
        // of the replayers grow with the number of ids used, not with the header's count or
        // the largest id (either of which could ask for anything).
        let mut ids = IdMap::default();
        let mut live: Vec<bool> = Vec::new();
        let mut last_line = header_line;
        for (ln, l) in lines {
            let mut toks = l.split_whitespace();
            let Some(op) = toks.next() else { continue };
            last_line = ln;
            let kind = match op {
                "a" => OpKind::Alloc,
                "r" => OpKind::Realloc,
                "f" => OpKind::Free,
                _ => return Err(err(ln, format!("unknown operation `{op}`"))),
            };
            let id_tok = toks
                .next()
                .ok_or_else(|| err(ln, format!("`{op}` needs an id")))?;
            let out_of_range = |id: &dyn fmt::Display| {
                err(
                    ln,
                    format!("id {id} out of range (header says {num_ids} ids)"),
                )
            };
            let id: u64 = id_tok.parse().map_err(|_| {
                if is_number(id_tok) {
                    out_of_range(&id_tok)
                } else {
                    err(ln, format!("id `{id_tok}` is not a non-negative number"))
                }
            })?;
            if id >= num_ids as u64 {
                return Err(out_of_range(&id));
            }
            let size = if kind == OpKind::Free {
                0
            } else {
                let s = toks
                    .next()
                    .ok_or_else(|| err(ln, format!("`{op}` needs a size")))?;
                let too_large = || {
                    err(
                        ln,
                        format!("size {s} is too large (at most {})", isize::MAX),
                    )
                };
                let v: u128 = s.parse().map_err(|_| {
                    if is_number(s) {
                        too_large()
                    } else {
                        err(ln, format!("size `{s}` is not a non-negative number"))
                    }
                })?;
                if v > isize::MAX as u128 {
                    return Err(too_large());
                }
                v as usize
            };
            if let Some(extra) = toks.next() {
                return Err(err(ln, format!("unexpected `{extra}` after the request")));
            }
            let dense = ids.dense(id);
            if live.len() <= dense as usize {
                live.push(false);
            }
            let slot = &mut live[dense as usize];
            match kind {
                OpKind::Alloc if *slot => {
                    return Err(err(ln, format!("allocation of id {id}, which is live")))
                }
                OpKind::Free if !*slot => {
                    return Err(err(ln, format!("free of id {id}, which is not live")))
                }
                OpKind::Alloc => *slot = true,
                // `realloc(NULL, n)` is `malloc(n)`, zero bytes too (a unique pointer, as
                // the replayers do); `realloc(p, 0)` frees.
                OpKind::Realloc => *slot = !*slot || size != 0,
                OpKind::Free => *slot = false,
            }
            if ops.len() as u64 == num_ops {
                return Err(err(
                    ln,
                    format!("more requests than the header's {num_ops} operations"),
                ));
            }
            ops.push(Op {
                kind,
                id: dense,
                size,
                line: ln as u32,
            });
        }
        if (ops.len() as u64) < num_ops {
            return Err(err(
                last_line,
                format!(
                    "header says {num_ops} operations, the file has {}",
                    ops.len()
                ),
            ));
        }
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut t = Trace {
            name,
            path: file.to_path_buf(),
            format,
            num_ids: live.len() as u32,
            weight: 1,
            ops,
        };
        if format == Format::Auto {
            t.format = Format::detect(header, t.peak_live().bytes);
        }
        t.weight = match t.format {
            Format::New => header[0],
            _ => header[3],
        };
        Ok(t)
    }

    /// Reads and parses one file (a pipe or `/dev/stdin` too).
    pub fn read(path: &Path, format: Format) -> Result<Trace, ParseError> {
        Trace::parse(path, &read_text(path)?, format)
    }

    /// A trace built in memory (e.g. by the generators); ops get line numbers as if written
    /// with [`Trace::to_classic`] (header on lines 1–4).
    pub fn from_ops(name: &str, num_ids: u32, mut ops: Vec<Op>) -> Trace {
        for (i, op) in ops.iter_mut().enumerate() {
            op.line = (i + 5) as u32;
        }
        Trace {
            name: name.to_string(),
            path: PathBuf::new(),
            format: Format::Classic,
            num_ids,
            weight: 1,
            ops,
        }
    }

    /// mdriver's `max_total`: the peak, over the trace, of the sum of requested sizes of
    /// live blocks, updated after `a` and `r`.
    pub fn peak_live(&self) -> Peak {
        let mut size = vec![0usize; self.num_ids as usize];
        let mut total = 0usize;
        let mut peak = Peak::default();
        for (i, op) in self.ops.iter().enumerate() {
            let s = &mut size[op.id as usize];
            match op.kind {
                OpKind::Alloc | OpKind::Realloc => {
                    total = total - *s + op.size;
                    *s = op.size;
                    if total > peak.bytes || peak.op_index.is_none() {
                        peak = Peak {
                            bytes: total,
                            op_index: Some(i),
                        };
                    }
                }
                OpKind::Free => {
                    total -= *s;
                    *s = 0;
                }
            }
        }
        peak
    }

    /// The trace in the classic format (`sugg_heapsize num_ids num_ops weight`, where the
    /// suggested heap size written is the peak live payload).
    pub fn to_classic(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(self.ops.len() * 12 + 64);
        let _ = write!(
            s,
            "{}\n{}\n{}\n{}\n",
            self.peak_live().bytes,
            self.num_ids,
            self.ops.len(),
            self.weight
        );
        for op in &self.ops {
            let _ = match op.kind {
                OpKind::Alloc => writeln!(s, "a {} {}", op.id, op.size),
                OpKind::Realloc => writeln!(s, "r {} {}", op.id, op.size),
                OpKind::Free => writeln!(s, "f {}", op.id),
            };
        }
        s
    }
}

/// The text of a trace file (a pipe or `/dev/stdin` too); errors name the file, at line 0.
pub fn read_text(path: &Path) -> Result<String, ParseError> {
    let bytes = std::fs::read(path).map_err(|e| ParseError {
        file: path.to_path_buf(),
        line: 0,
        reason: format!("cannot read: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| ParseError {
        file: path.to_path_buf(),
        line: 0,
        reason: format!("not text: {e}"),
    })
}

/// The header `libheapwise.so` writes first when it records a trace (`HEAPWISE_TRACE`):
/// heap size 0, 0 ids, 0 operations, weight 1, each number right-aligned in 20 characters
/// on its own line (`heapwise-preload`'s `recorder::header(0, 0, 0, 1)`). Its exit handler
/// overwrites it with the real counts.
pub const RECORDER_PLACEHOLDER: &str = concat!(
    "                   0\n",
    "                   0\n",
    "                   0\n",
    "                   1\n",
);

/// Whether `tok` is a number in decimal digits (one too large for the type it is parsed into
/// is then too large, not a non-number).
pub(crate) fn is_number(tok: &str) -> bool {
    let digits = tok.strip_prefix('+').unwrap_or(tok);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
}

/// Why an unfinished recording is not replayed.
const UNFINISHED: &str = "an unfinished recording: the header is still the recorder's \
     placeholder (the process left through _exit or was killed by a signal before its exit \
     handler wrote the counts, or a write of the trace failed, as the library then said on \
     its stderr), and the body may end in the middle of a line";

/// Whether `text` is a trace the recorder started but never finished: its placeholder
/// header followed by requests. The recorder buffers 64 KiB of lines before it writes, so a
/// process that leaves through `_exit` or is killed by a signal leaves an empty file after a
/// short run and such a file after a longer one; so does a process whose trace could not be
/// written to the end (a full disk), after a line on its stderr. (A finished recording of a process that
/// never called `malloc` is the same header with nothing after it: a trace without
/// requests.)
///
/// ```
/// use heapwise_lab::trace::{unfinished_recording, RECORDER_PLACEHOLDER};
/// assert!(unfinished_recording(&format!("{RECORDER_PLACEHOLDER}a 0 16\nf 0\na 1 2")));
/// assert!(!unfinished_recording(RECORDER_PLACEHOLDER));
/// assert!(!unfinished_recording("0\n0\n0\n1\na 0 16\n"));
/// ```
pub fn unfinished_recording(text: &str) -> bool {
    text.strip_prefix(RECORDER_PLACEHOLDER)
        .is_some_and(|body| !body.trim().is_empty())
}

/// The lines of `text`, ended by `\n`, `\r\n` or a lone `\r` (old Mac files), without their
/// ends.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(i) = rest.find(['\n', '\r']) else {
            return Some(std::mem::take(&mut rest));
        };
        let line = &rest[..i];
        let end = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + end..];
        Some(line)
    })
}

/// The file's ids → dense ids, in order of first use: a table for ids below
/// [`IdMap::DIRECT`] (every realistic trace), a hash map above.
#[derive(Default)]
struct IdMap {
    direct: Vec<u32>,
    sparse: std::collections::HashMap<u64, u32>,
    next: u32,
}

impl IdMap {
    /// Ids below this are mapped through a table (at most 16 MiB of it).
    const DIRECT: u64 = 1 << 22;

    /// The dense id of file id `id`, given the next free one on first use.
    fn dense(&mut self, id: u64) -> u32 {
        let next = &mut self.next;
        let mut fresh = || {
            let d = *next;
            *next += 1;
            d
        };
        if id < Self::DIRECT {
            let i = id as usize;
            if self.direct.len() <= i {
                self.direct.resize(i + 1, u32::MAX);
            }
            if self.direct[i] == u32::MAX {
                self.direct[i] = fresh();
            }
            self.direct[i]
        } else {
            *self.sparse.entry(id).or_insert_with(fresh)
        }
    }
}

/// Expands the command line's paths: a directory means its `*.rep` files, sorted by name;
/// a file is taken as is. Errors name the path that cannot be listed.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ParseError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| ParseError {
                file: p.clone(),
                line: 0,
                reason: format!("cannot list directory: {e}"),
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "rep"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ParseError {
                    file: p.clone(),
                    line: 0,
                    reason: "directory holds no *.rep files".into(),
                });
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Gives traces that share a name (`t.rep` in two directories) their paths as names, and
/// a file given more than once `#2`, `#3`, ... after its second and later names, so that the
/// table's rows, its trace count and the JSON tell them apart.
///
/// ```
/// use heapwise_lab::trace::{unique_names, Format, Trace};
/// let text = "0 1 1 1\na 0 1\n";
/// let mut ts = vec![
///     Trace::parse("a/t.rep".as_ref(), text, Format::Auto).unwrap(),
///     Trace::parse("b/t.rep".as_ref(), text, Format::Auto).unwrap(),
///     Trace::parse("b/u.rep".as_ref(), text, Format::Auto).unwrap(),
///     Trace::parse("b/u.rep".as_ref(), text, Format::Auto).unwrap(),
/// ];
/// unique_names(&mut ts);
/// let names: Vec<&str> = ts.iter().map(|t| t.name.as_str()).collect();
/// assert_eq!(names, ["a/t.rep", "b/t.rep", "u", "u#2"]);
/// ```
pub fn unique_names(traces: &mut [Trace]) {
    // Names shared by different files become paths; one file given again keeps its name.
    let base: Vec<String> = traces
        .iter()
        .map(|t| {
            let shared = traces.iter().any(|u| u.name == t.name && u.path != t.path);
            if shared {
                t.path.display().to_string()
            } else {
                t.name.clone()
            }
        })
        .collect();
    for (i, t) in traces.iter_mut().enumerate() {
        let k = base[..i].iter().filter(|b| **b == base[i]).count();
        t.name = if k == 0 {
            base[i].clone()
        } else {
            format!("{}#{}", base[i], k + 1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Trace, ParseError> {
        Trace::parse(Path::new("x.rep"), s, Format::Auto)
    }

    #[test]
    fn realloc_of_dead_id_is_malloc_and_zero_realloc_frees() {
        let t = parse("0 1 3 1\nr 0 5\nr 0 0\na 0 4\n").unwrap();
        assert_eq!(t.ops.len(), 3);
        assert_eq!(t.peak_live().bytes, 5);
    }

    #[test]
    fn round_trip_through_classic() {
        let t = parse("99\n3\n5\n1\na 0 10\na 1 7\nr 0 30\nf 1\nf 0\n").unwrap();
        let back = parse(&t.to_classic()).unwrap();
        assert_eq!(back.ops, t.ops);
        assert_eq!(t.peak_live().op_index, Some(2));
    }
}
