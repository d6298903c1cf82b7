//! The heap-efficiency workload over several seeds (and other size ranges or arena sizes):
//! is a placement's figure a property of the placement, or of the benchmark's one seed?
//!
//! ```text
//! cargo run --release -p heapwise-bench --example efficiency_seeds -- \
//!     [--seeds N] [--max-size BYTES] [--arena-mib M] [ROW...]
//! ```
//!
//! Seed 0 is the benchmark's own seed ([`Efficiency::default`]); seed `i > 0` is that seed
//! xor `i · 0x9E3779B97F4A7C15`. `--max-size` changes the largest request (default 4096,
//! the benchmark's), `--arena-mib` the arena (default 64). Rows are bench row names or
//! prefixes (`heapwise/segregated`, `talc`, `dlmalloc`, ...); default: the default policy,
//! talc, rlsf and dlmalloc. Prints a markdown table of each row's efficiency per seed,
//! then the mean, minimum and maximum.

use heapwise_bench::{with_subject, Arena, Efficiency, Subject};

fn main() {
    let (mut seeds, mut arena_mib) = (16u64, 64usize);
    let mut eff = Efficiency::default();
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what}: a number"))
        };
        match a.as_str() {
            "--seeds" => seeds = num("--seeds"),
            "--max-size" => eff.max_size = num("--max-size") as usize,
            "--arena-mib" => arena_mib = num("--arena-mib") as usize,
            _ => names.push(a),
        }
    }
    let rows: Vec<Subject> = if names.is_empty() {
        vec![
            Subject::all()[0],
            Subject::Talc,
            Subject::Rlsf,
            Subject::Dlmalloc,
        ]
    } else {
        Subject::all()
            .into_iter()
            .filter(|s| names.iter().any(|n| s.matches(n)))
            .collect()
    };
    let mut arena = Arena::new(arena_mib << 20);
    let header: Vec<String> = rows.iter().map(Subject::name).collect();
    println!("| seed | {} |", header.join(" | "));
    println!("|---:|{}", "---:|".repeat(rows.len()));
    let mut all = vec![Vec::new(); rows.len()];
    for i in 0..seeds {
        let seed = eff.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut line = format!("| {i} |");
        for (r, &row) in rows.iter().enumerate() {
            let e = with_subject(row, arena.fresh(), Efficiency { seed, ..eff }).efficiency();
            all[r].push(e * 100.0);
            line += &format!(" {:.2} |", e * 100.0);
        }
        println!("{line}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    for (label, f) in [
        ("mean", &mean as &dyn Fn(&[f64]) -> f64),
        ("min", &min),
        ("max", &max),
    ] {
        let cells: Vec<String> = all.iter().map(|v| format!("{:.2}", f(v))).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}
