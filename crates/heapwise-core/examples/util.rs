//! Replays malloc-lab traces on a [`SimBrk`] heap for every policy of the engine and prints
//! the peak utilisation per trace (the lab's definition: peak sum of requested live payload
//! divided by the final heap size `brk - start`), the mean per policy, and the throughput of
//! each policy against the system allocator measured in the same process.
//!
//! ```text
//! cargo run --release -p heapwise-core --example util -- [options] [TRACE.rep | DIR]...
//!   --policy NAME   only this policy (repeatable; default: every policy)
//!   --check         run the heap checker after every operation, and verify payload bytes
//!   --time N        time each replay N times (median), and the system allocator too
//!   --markdown      print the utilisation table as Markdown (rows: policies)
//!   --dump A..B     print the heap's blocks after operations A..B ([id:size] allocated)
//!   -v              with --time: per-trace throughput too
//!   --bound         also print the block-model bound: peak payload over the largest sum of
//!                   live block sizes (plus the empty heap), the best any placement can do
//! ```
//!
//! Without a path it replays the 11 classic traces in `../shared/traces/csapp` (relative to
//! the workspace root, or `$HEAPWISE_TRACES`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::time::Instant;

use heapwise_core::block::{block_size_for, empty_heap_bytes};
use heapwise_core::{AnyHeap, PolicyKind, SimBrk, Source};

/// The 11 classic traces, in mdriver's order.
const CLASSIC: [&str; 11] = [
    "amptjp-bal.rep",
    "cccp-bal.rep",
    "cp-decl-bal.rep",
    "expr-bal.rep",
    "coalescing-bal.rep",
    "random-bal.rep",
    "random2-bal.rep",
    "binary-bal.rep",
    "binary2-bal.rep",
    "realloc-bal.rep",
    "realloc2-bal.rep",
];

/// Simulated memory per replay (the lab's MAX_HEAP is 20 MiB).
const MEM: usize = 64 << 20;

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc(usize, usize),
    Realloc(usize, usize),
    Free(usize),
}

struct Trace {
    name: String,
    ids: usize,
    ops: Vec<Op>,
}

fn parse(path: &Path) -> Result<Trace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tok = text.split_whitespace();
    let mut num = |what: &str| -> Result<usize, String> {
        tok.next()
            .ok_or_else(|| format!("{}: missing {what}", path.display()))?
            .parse::<usize>()
            .map_err(|e| format!("{}: {what}: {e}", path.display()))
    };
    let _sugg = num("heap size")?;
    let ids = num("ids")?;
    let n = num("ops")?;
    let _weight = num("weight")?;
    let mut ops = Vec::with_capacity(n);
    let mut words = text.split_whitespace().skip(4);
    while let Some(k) = words.next() {
        let mut next = || -> Result<usize, String> {
            words
                .next()
                .ok_or("truncated line")?
                .parse::<usize>()
                .map_err(|e| e.to_string())
        };
        let op = match k {
            "a" => Op::Alloc(next()?, next()?),
            "r" => Op::Realloc(next()?, next()?),
            "f" => Op::Free(next()?),
            other => return Err(format!("{}: unknown op {other}", path.display())),
        };
        let id = match op {
            Op::Alloc(i, _) | Op::Realloc(i, _) | Op::Free(i) => i,
        };
        if id >= ids {
            return Err(format!("{}: id {id} out of range", path.display()));
        }
        ops.push(op);
    }
    if ops.len() != n {
        return Err(format!(
            "{}: {} ops, header says {n}",
            path.display(),
            ops.len()
        ));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Trace { name, ids, ops })
}

/// Peak payload and the block-model bound (largest sum of live block sizes + empty heap).
fn peak_and_bound(t: &Trace) -> (usize, usize) {
    let mut size = vec![0usize; t.ids];
    let (mut total, mut peak, mut blocks, mut peak_blocks) = (0usize, 0usize, 0usize, 0usize);
    let bs = |s: usize| block_size_for(s).unwrap_or(usize::MAX / 4);
    for &op in &t.ops {
        match op {
            Op::Alloc(i, s) => {
                size[i] = s;
                total += s;
                blocks += bs(s);
            }
            Op::Realloc(i, s) => {
                total = total + s - size[i];
                blocks = blocks + bs(s) - bs(size[i]);
                size[i] = s;
            }
            Op::Free(i) => {
                total -= size[i];
                blocks -= bs(size[i]);
            }
        }
        peak = peak.max(total);
        peak_blocks = peak_blocks.max(blocks);
    }
    (peak, peak_blocks + empty_heap_bytes(0))
}

struct Outcome {
    util: f64,
    heap: usize,
}

/// Fills a payload with a byte derived from the id, to catch overlapping blocks.
fn tag(id: usize) -> u8 {
    (id as u8) ^ 0x5a
}

unsafe fn verify(p: *mut u8, len: usize, id: usize, line: usize) -> Result<(), String> {
    // SAFETY: `p` is a live payload of at least `len` bytes (caller contract).
    let s = unsafe { std::slice::from_raw_parts(p, len) };
    if let Some(at) = s.iter().position(|&b| b != tag(id)) {
        return Err(format!(
            "op {line}: payload of id {id} corrupted at byte {at}"
        ));
    }
    Ok(())
}

/// Replays `t` on a fresh heap of policy `kind` over `mem`.
fn replay(
    kind: PolicyKind,
    t: &Trace,
    mem: &mut [MaybeUninit<u8>],
    check: bool,
    dump: Option<(usize, usize)>,
) -> Result<Outcome, String> {
    let mut heap = AnyHeap::new(kind, SimBrk::new(mem, MEM));
    let mut ptrs = vec![std::ptr::null_mut::<u8>(); t.ids];
    let mut size = vec![0usize; t.ids];
    let (mut total, mut peak) = (0usize, 0usize);
    for (line, &op) in t.ops.iter().enumerate() {
        match op {
            Op::Alloc(i, s) => {
                let p = heap
                    .malloc(s)
                    .ok_or_else(|| format!("op {line}: out of memory"))?
                    .as_ptr();
                if check {
                    if p as usize % 16 != 0 {
                        return Err(format!("op {line}: misaligned payload"));
                    }
                    // SAFETY: `p` is a fresh payload of at least `s` bytes.
                    unsafe { std::ptr::write_bytes(p, tag(i), s) };
                }
                ptrs[i] = p;
                size[i] = s;
                total += s;
            }
            Op::Realloc(i, s) => {
                if check {
                    // SAFETY: `ptrs[i]` is live with `size[i]` bytes.
                    unsafe { verify(ptrs[i], size[i], i, line)? };
                }
                // SAFETY: `ptrs[i]` is a live payload of this heap.
                let p = unsafe { heap.realloc(ptrs[i], s) }
                    .ok_or_else(|| format!("op {line}: realloc out of memory"))?
                    .as_ptr();
                if check {
                    let keep = s.min(size[i]);
                    // SAFETY: `p` is live with at least `s` bytes; the first `keep` were kept.
                    unsafe {
                        verify(p, keep, i, line)?;
                        std::ptr::write_bytes(p, tag(i), s);
                    }
                }
                total = total + s - size[i];
                ptrs[i] = p;
                size[i] = s;
            }
            Op::Free(i) => {
                if check {
                    // SAFETY: `ptrs[i]` is live with `size[i]` bytes.
                    unsafe { verify(ptrs[i], size[i], i, line)? };
                }
                // SAFETY: `ptrs[i]` is a live payload of this heap, freed once.
                unsafe { heap.free(ptrs[i]) };
                total -= size[i];
            }
        }
        peak = peak.max(total);
        if dump.is_some_and(|(from, to)| (from..to).contains(&line)) {
            let l = heap.layout().expect("initialised");
            let mut id_at = std::collections::HashMap::new();
            for (i, &p) in ptrs.iter().enumerate() {
                id_at.insert(p as usize, i);
            }
            print!("op {line} {:?} heap {}:", op, l.end - l.start);
            for b in heap.blocks() {
                if b.allocated {
                    let id = id_at.get(&b.payload()).copied().unwrap_or(usize::MAX);
                    print!(" [{id}:{}]", b.size);
                } else {
                    print!(" ({})", b.size);
                }
            }
            println!();
        }
        if check {
            heap.check()
                .map_err(|e| format!("op {line}: heap check failed: {e:?}"))?;
        }
    }
    let hs = heap.source().heap_size();
    Ok(Outcome {
        util: peak as f64 / hs as f64,
        heap: hs,
    })
}

/// Seconds to replay `t` on the system allocator.
fn time_system(t: &Trace) -> f64 {
    let mut ptrs = vec![(std::ptr::null_mut::<u8>(), 0usize); t.ids];
    let start = Instant::now();
    for &op in &t.ops {
        match op {
            Op::Alloc(i, s) => {
                let l = Layout::from_size_align(s.max(1), 16).expect("valid layout");
                // SAFETY: non-zero size layout.
                let p = unsafe { System.alloc(l) };
                assert!(!p.is_null(), "system allocator out of memory");
                ptrs[i] = (p, s.max(1));
            }
            Op::Realloc(i, s) => {
                let (p, old) = ptrs[i];
                let l = Layout::from_size_align(old, 16).expect("valid layout");
                // SAFETY: `p` was allocated by System with layout `l`; new size non-zero.
                let q = unsafe { System.realloc(p, l, s.max(1)) };
                assert!(!q.is_null(), "system allocator out of memory");
                ptrs[i] = (q, s.max(1));
            }
            Op::Free(i) => {
                let (p, old) = ptrs[i];
                let l = Layout::from_size_align(old, 16).expect("valid layout");
                // SAFETY: `p` was allocated by System with layout `l`.
                unsafe { System.dealloc(p, l) };
            }
        }
    }
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Prints one table row, aligned or as Markdown.
fn print_row(cells: &[String], markdown: bool) {
    if markdown {
        println!("| {} |", cells.join(" | "));
        return;
    }
    print!("{:<26}", cells[0]);
    for c in &cells[1..] {
        print!(" {:>8}", &c[..c.len().min(8)]);
    }
    println!();
}

fn default_dir() -> PathBuf {
    if let Ok(d) = std::env::var("HEAPWISE_TRACES") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/csapp");
    if root.exists() {
        root
    } else {
        PathBuf::from("/work/shared/traces/csapp")
    }
}

fn main() {
    let mut policies: Vec<PolicyKind> = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    let (mut check, mut time, mut bound, mut verbose) = (false, 0usize, false, false);
    let mut dump = None;
    let mut markdown = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--policy" => {
                let n = args.next().expect("--policy NAME");
                policies.push(PolicyKind::from_name(&n).unwrap_or_else(|| {
                    eprintln!("unknown policy {n}");
                    std::process::exit(2)
                }));
            }
            "--check" => check = true,
            "--markdown" => markdown = true,
            "--dump" => {
                let r = args.next().expect("--dump FROM..TO");
                let (a, b) = r.split_once("..").expect("--dump FROM..TO");
                dump = Some((a.parse().expect("number"), b.parse().expect("number")));
            }
            "--bound" => bound = true,
            "-v" => verbose = true,
            "--time" => time = args.next().and_then(|n| n.parse().ok()).expect("--time N"),
            p => {
                let p = PathBuf::from(p);
                if p.is_dir() {
                    let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                        .expect("readable directory")
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "rep"))
                        .collect();
                    v.sort();
                    paths.extend(v);
                } else {
                    paths.push(p);
                }
            }
        }
    }
    if policies.is_empty() {
        policies = PolicyKind::ALL.to_vec();
    }
    if paths.is_empty() {
        let d = default_dir();
        paths = CLASSIC.iter().map(|f| d.join(f)).collect();
    }
    let traces: Vec<Trace> = paths
        .iter()
        .map(|p| {
            parse(p).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            })
        })
        .collect();
    let mut mem = vec![MaybeUninit::<u8>::uninit(); MEM + 64];

    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["policy".to_string()];
    head.extend(
        traces
            .iter()
            .map(|t| t.name.trim_end_matches("-bal").to_string()),
    );
    head.push("mean".into());
    rows.push(head);
    let pct = |u: f64| format!("{:.2}%", 100.0 * u);
    if bound {
        let mut row = vec!["(block-model bound)".to_string()];
        let mut sum = 0.0;
        for t in &traces {
            let (p, b) = peak_and_bound(t);
            let u = p as f64 / b as f64;
            sum += u;
            row.push(pct(u));
        }
        row.push(pct(sum / traces.len() as f64));
        rows.push(row);
    }
    if !markdown {
        for r in &rows {
            print_row(r, false);
        }
    }
    let mut failed = false;
    for &k in &policies {
        let mut row = vec![k.name().to_string()];
        let mut sum = 0.0;
        for t in &traces {
            match replay(k, t, &mut mem, check, dump) {
                Ok(o) => {
                    sum += o.util;
                    row.push(pct(o.util));
                    let _ = o.heap;
                }
                Err(e) => {
                    failed = true;
                    row.push("FAIL".into());
                    eprintln!("{} / {}: {e}", k.name(), t.name);
                }
            }
        }
        row.push(pct(sum / traces.len() as f64));
        if !markdown {
            print_row(&row, markdown);
        }
        rows.push(row);
    }
    if markdown {
        for (i, r) in rows.iter().enumerate() {
            print_row(r, true);
            if i == 0 {
                let mut sep = vec![":--".to_string()];
                sep.extend((1..r.len()).map(|_| "--:".to_string()));
                print_row(&sep, true);
            }
        }
    }
    if time > 0 {
        println!();
        println!(
            "{:<26} {:>12} {:>12} {:>8}   (median of {time}, Kops/s over all traces)",
            "throughput", "policy", "system", "ratio"
        );
        let total_ops: usize = traces.iter().map(|t| t.ops.len()).sum();
        let sys_each: Vec<f64> = traces
            .iter()
            .map(|t| median((0..time).map(|_| time_system(t)).collect()))
            .collect();
        for &k in &policies {
            let each: Vec<f64> = traces
                .iter()
                .map(|t| {
                    median(
                        (0..time)
                            .map(|_| {
                                let s = Instant::now();
                                replay(k, t, &mut mem, false, None).expect("replay");
                                s.elapsed().as_secs_f64()
                            })
                            .collect(),
                    )
                })
                .collect();
            if verbose {
                for (i, t) in traces.iter().enumerate() {
                    let n = t.ops.len() as f64 / 1e3;
                    println!(
                        "  {:<24} {:>12.0} {:>12.0} {:>7.2}x",
                        t.name,
                        n / each[i],
                        n / sys_each[i],
                        sys_each[i] / each[i]
                    );
                }
            }
            let secs: f64 = each.iter().sum();
            let sys: f64 = sys_each.iter().sum();
            let kp = total_ops as f64 / secs / 1e3;
            let ks = total_ops as f64 / sys / 1e3;
            println!(
                "{:<26} {:>12.0} {:>12.0} {:>7.2}x",
                k.name(),
                kp,
                ks,
                kp / ks
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
}
