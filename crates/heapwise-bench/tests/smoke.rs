//! Smoke test of the benchmark: both workloads, tiny, on every contender, with the block
//! integrity checks proven to run (and to catch a cheating allocator). No timing is
//! asserted.

use std::ptr;

use heapwise_bench::{
    csv, markdown, run, with_subject, Arena, Config, Contender, Efficiency, RandomActions, Replay,
    Subject, Visit,
};
use heapwise_core::PolicyKind;

fn every_subject() -> Vec<Subject> {
    let mut v = Subject::all();
    v.extend(PolicyKind::ALL.iter().map(|&k| Subject::HeapwiseAny(k)));
    v.push(Subject::Baseline);
    v
}

fn small_actions() -> RandomActions {
    RandomActions {
        ops: 6000,
        min_live: 100,
        max_live: 300,
        ..RandomActions::default()
    }
}

#[test]
fn every_policy_of_the_core_is_a_row() {
    let names: Vec<String> = Subject::all().iter().map(Subject::name).collect();
    for k in PolicyKind::ALL {
        assert!(names.contains(&format!("heapwise/{}", k.name())), "{k}");
    }
    for peer in [
        "talc",
        "rlsf",
        "dlmalloc",
        "buddy_system_allocator",
        "linked_list_allocator",
    ] {
        assert!(names.iter().any(|n| n == peer), "{peer}");
    }
}

#[test]
fn random_actions_run_and_verify_on_every_contender() {
    let trace = small_actions().trace();
    let mut arena = Arena::new(4 << 20);
    for s in every_subject() {
        let r = with_subject(s, arena.fresh(), Replay::validating(&trace));
        assert_eq!(r.ops, trace.len(), "{}", s.name());
        assert_eq!(r.failures, 0, "{}", s.name());
        assert_eq!(
            r.integrity.corruptions,
            0,
            "{}: {:?}",
            s.name(),
            r.integrity.first
        );
        // Every free and realloc verifies a block, and so does the final sweep.
        assert!(
            r.integrity.checks > 4000,
            "{}: {}",
            s.name(),
            r.integrity.checks
        );
    }
}

#[test]
fn efficiency_runs_to_the_first_failure_on_every_contender() {
    let mut arena = Arena::new(1 << 20);
    for s in every_subject() {
        let e = with_subject(s, arena.fresh(), Efficiency::default());
        assert!(e.failed, "{}", s.name());
        assert_eq!(e.arena, 1 << 20, "{}", s.name());
        assert!(e.integrity.checks > 0, "{}", s.name());
        assert_eq!(
            e.integrity.corruptions,
            0,
            "{}: {:?}",
            s.name(),
            e.integrity.first
        );
        let eff = e.efficiency();
        if s == Subject::Baseline {
            assert!(
                eff > 0.2 && eff < 0.9,
                "slabs waste up to half of a block: {eff}"
            );
        } else {
            assert!(eff > 0.5 && eff < 1.0, "{}: {eff}", s.name());
        }
    }
}

/// An allocator that hands out the same block every time: overlapping blocks.
struct Overlapping(Vec<u8>);

impl Contender for Overlapping {
    fn alloc(&mut self, size: usize, _align: usize) -> *mut u8 {
        if size > self.0.len() {
            return ptr::null_mut();
        }
        self.0.as_mut_ptr()
    }
    unsafe fn free(&mut self, _ptr: *mut u8, _size: usize, _align: usize) {}
    unsafe fn realloc(&mut self, ptr: *mut u8, _old: usize, _align: usize, _new: usize) -> *mut u8 {
        ptr
    }
}

/// An allocator whose blocks are misaligned and outside the arena it was given.
struct Misaligned(Vec<u8>);

impl Contender for Misaligned {
    fn alloc(&mut self, _size: usize, _align: usize) -> *mut u8 {
        self.0.as_mut_ptr().wrapping_add(1)
    }
    unsafe fn free(&mut self, _ptr: *mut u8, _size: usize, _align: usize) {}
    unsafe fn realloc(&mut self, ptr: *mut u8, _old: usize, _align: usize, _new: usize) -> *mut u8 {
        ptr
    }
}

#[test]
fn the_timed_replay_stamps_but_does_not_verify() {
    let trace = small_actions().trace();
    let mut liar = Overlapping(vec![0; 1 << 14]);
    let base = liar.0.as_ptr();
    let r = Replay::timed(&trace).visit(&mut liar, base, 1 << 14);
    assert_eq!((r.integrity.checks, r.integrity.corruptions), (0, 0));
    assert_eq!(r.ops, trace.len());
}

#[test]
fn integrity_checks_catch_overlapping_and_misplaced_blocks() {
    let trace = small_actions().trace();
    let mut liar = Overlapping(vec![0; 1 << 14]);
    let base = liar.0.as_ptr();
    let r = Replay::validating(&trace).visit(&mut liar, base, 1 << 14);
    assert!(r.integrity.corruptions > 100, "{}", r.integrity.corruptions);
    assert!(r.integrity.first.is_some());

    let mut arena = vec![0u8; 1 << 16];
    let mut bad = Misaligned(vec![0; 1 << 14]);
    let r = Replay::validating(&trace[..10]).visit(&mut bad, arena.as_mut_ptr(), arena.len());
    // 10 bad pointers, and the blocks (all at the same address) overwrote each other's tags.
    assert!(r.integrity.corruptions >= 10, "{:?}", r.integrity.first);
    let first = r.integrity.first.unwrap();
    assert!(first.contains("misaligned or outside the arena"), "{first}");
}

#[test]
fn a_small_invocation_reports_table_and_csv() {
    let cfg = Config {
        subjects: vec![
            Subject::Heapwise(PolicyKind::DEFAULT),
            Subject::Talc,
            Subject::LinkedList,
        ],
        actions: small_actions(),
        linear_ops: 2000,
        runs: 3,
        arena_bytes: 2 << 20,
        ..Config::default()
    };
    let mut lines = 0;
    let rows = run(&cfg, |_| lines += 1);
    // One validating replay per row, 3 timed runs per row, one efficiency run per row.
    assert_eq!(lines, 3 + 3 * 3 + 3);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].runs.len(), 3);
    for r in &rows {
        let v = r.validation.as_ref().expect("every row is validated once");
        assert_eq!(v.ops, r.ops().unwrap());
        assert!(v.integrity.checks > 1000, "{}", r.subject.name());
        assert!(
            r.runs.iter().all(|t| t.integrity.checks == 0),
            "timed runs verify nothing"
        );
        assert!(r.checks() >= v.integrity.checks);
    }
    assert_eq!(rows[0].ops(), Some(6000));
    assert_eq!(
        rows[2].ops(),
        Some(2000),
        "linear searches run the short trace"
    );
    let (med, lo, hi) = rows[1].mops().unwrap();
    assert!(lo <= med && med <= hi);
    let md = markdown(&rows);
    assert!(md.contains("| heapwise/segregated | 6 k |"), "{md}");
    assert!(
        md.contains("| talc | 6 k |") && md.contains("| 1.00 |"),
        "{md}"
    );
    let c = csv(&rows);
    assert_eq!(c.lines().count(), 4);
    assert!(c.starts_with("allocator,ops,mops_median"));
    assert!(c.lines().nth(2).unwrap().starts_with("talc,6000,"));
}
