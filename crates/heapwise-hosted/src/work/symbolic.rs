//! An allocation-heavy symbolic workload: random expression trees over `x` are built,
//! differentiated (a new tree) and simplified (another new tree, constant folding and the
//! identities `0 + e`, `e * 1`, `e * 0`), then freed; many small nodes with short lives.
//!
//! Verification: the derivative and its simplification are evaluated at several points in
//! wrapping 64-bit arithmetic (a ring, where every rewrite is exact) and must agree; a node
//! corrupted by the allocator changes a value.
//!
//! Invariant: every node is a 32-byte C block from `malloc`, owned by exactly one parent (trees,
//! never DAGs), freed once by `free_tree`.

use super::{mix, Outcome, Params};
use crate::rng::Rng;

const CONST: u64 = 0;
const VAR: u64 = 1;
const ADD: u64 = 2;
const MUL: u64 = 3;
const SUB: u64 = 4;

#[repr(C)]
struct Node {
    tag: u64,
    val: i64,
    l: *mut Node,
    r: *mut Node,
}

struct Ctx {
    ops: u64,
}

impl Ctx {
    fn node(
        &mut self,
        tag: u64,
        val: i64,
        l: *mut Node,
        r: *mut Node,
    ) -> Result<*mut Node, String> {
        self.ops += 1;
        // SAFETY: malloc has no preconditions.
        let p = unsafe { libc::malloc(std::mem::size_of::<Node>()) } as *mut Node;
        if p.is_null() {
            return Err("malloc(32) returned NULL".into());
        }
        // SAFETY: p is a fresh block of size_of::<Node>() bytes, aligned by malloc.
        unsafe { p.write(Node { tag, val, l, r }) };
        Ok(p)
    }

    /// # Safety
    /// `t` is null or a tree built by `node` and owned by the caller.
    unsafe fn free_tree(&mut self, t: *mut Node) {
        if t.is_null() {
            return;
        }
        // SAFETY: t is a live node owned by the caller (contract); its children are owned by it.
        unsafe {
            self.free_tree((*t).l);
            self.free_tree((*t).r);
            libc::free(t.cast());
        }
        self.ops += 1;
    }

    fn random(&mut self, rng: &mut Rng, depth: u32) -> Result<*mut Node, String> {
        if depth == 0 || rng.chance(1, 6) {
            return if rng.chance(1, 2) {
                self.node(VAR, 0, std::ptr::null_mut(), std::ptr::null_mut())
            } else {
                self.node(
                    CONST,
                    rng.range(0, 5) as i64,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
        let tag = [ADD, MUL, SUB][rng.range(0, 3)];
        let l = self.random(rng, depth - 1)?;
        let r = self.random(rng, depth - 1)?;
        self.node(tag, 0, l, r)
    }

    /// # Safety
    /// `t` is a live tree.
    unsafe fn copy(&mut self, t: *const Node) -> Result<*mut Node, String> {
        // SAFETY: t is live (contract), so are its children.
        let n = unsafe { &*t };
        let l = if n.l.is_null() {
            n.l
        } else {
            // SAFETY: a non-null child of a live node is a live tree.
            unsafe { self.copy(n.l)? }
        };
        let r = if n.r.is_null() {
            n.r
        } else {
            // SAFETY: a non-null child of a live node is a live tree.
            unsafe { self.copy(n.r)? }
        };
        self.node(n.tag, n.val, l, r)
    }

    /// d/dx of `t`, a new tree (`t` is left alone).
    ///
    /// # Safety
    /// `t` is a live tree.
    unsafe fn diff(&mut self, t: *const Node) -> Result<*mut Node, String> {
        let null = std::ptr::null_mut();
        // SAFETY: t is live (contract), so are its children.
        let n = unsafe { &*t };
        // SAFETY: children of a live interior node are live trees (all calls below).
        unsafe {
            match n.tag {
                CONST => self.node(CONST, 0, null, null),
                VAR => self.node(CONST, 1, null, null),
                ADD | SUB => {
                    let a = self.diff(n.l)?;
                    let b = self.diff(n.r)?;
                    self.node(n.tag, 0, a, b)
                }
                _ => {
                    // (l r)' = l' r + l r'
                    let dl = self.diff(n.l)?;
                    let r = self.copy(n.r)?;
                    let l = self.copy(n.l)?;
                    let dr = self.diff(n.r)?;
                    let a = self.node(MUL, 0, dl, r)?;
                    let b = self.node(MUL, 0, l, dr)?;
                    self.node(ADD, 0, a, b)
                }
            }
        }
    }

    /// A simplified copy of `t`, consuming (freeing) `t`.
    ///
    /// # Safety
    /// `t` is a live tree owned by the caller; ownership passes to this call.
    unsafe fn simplify(&mut self, t: *mut Node) -> Result<*mut Node, String> {
        let null = std::ptr::null_mut();
        // SAFETY: t is live and owned (contract).
        let (tag, val, l, r) = unsafe { ((*t).tag, (*t).val, (*t).l, (*t).r) };
        if tag == CONST || tag == VAR {
            return self.node(tag, val, null, null).inspect(|_| {
                // SAFETY: t is a leaf we own; it is replaced by the new node.
                unsafe { self.free_tree(t) }
            });
        }
        // SAFETY: the children are owned by t; t's own block is freed without them.
        let (a, b) = unsafe {
            let a = self.simplify(l)?;
            let b = self.simplify(r)?;
            libc::free(t.cast());
            self.ops += 1;
            (a, b)
        };
        // SAFETY: a and b are fresh live trees owned here.
        let (ac, bc) = unsafe {
            (
                ((*a).tag == CONST).then(|| (*a).val),
                ((*b).tag == CONST).then(|| (*b).val),
            )
        };
        let folded = match (tag, ac, bc) {
            (ADD, Some(x), Some(y)) => Some(x.wrapping_add(y)),
            (SUB, Some(x), Some(y)) => Some(x.wrapping_sub(y)),
            (MUL, Some(x), Some(y)) => Some(x.wrapping_mul(y)),
            (MUL, Some(0), _) | (MUL, _, Some(0)) => Some(0),
            _ => None,
        };
        if let Some(v) = folded {
            // SAFETY: a and b are owned here and no longer needed.
            unsafe {
                self.free_tree(a);
                self.free_tree(b);
            }
            return self.node(CONST, v, null, null);
        }
        match (tag, ac, bc) {
            (ADD, Some(0), _) | (MUL, Some(1), _) => {
                // SAFETY: the dropped operand is owned here and no longer needed.
                unsafe { self.free_tree(a) };
                Ok(b)
            }
            (ADD, _, Some(0)) | (SUB, _, Some(0)) | (MUL, _, Some(1)) => {
                // SAFETY: the dropped operand is owned here and no longer needed.
                unsafe { self.free_tree(b) };
                Ok(a)
            }
            _ => self.node(tag, 0, a, b),
        }
    }
}

/// # Safety
/// `t` is a live tree.
unsafe fn eval(t: *const Node, x: i64) -> i64 {
    // SAFETY: t is live (contract), so are its children.
    let n = unsafe { &*t };
    // SAFETY: children of a live interior node are live trees.
    unsafe {
        match n.tag {
            CONST => n.val,
            VAR => x,
            ADD => eval(n.l, x).wrapping_add(eval(n.r, x)),
            SUB => eval(n.l, x).wrapping_sub(eval(n.r, x)),
            _ => eval(n.l, x).wrapping_mul(eval(n.r, x)),
        }
    }
}

/// Builds, differentiates, simplifies and checks trees of depth 11.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let trees = p.n(900, 2);
    let mut rng = Rng::new(3);
    let mut ctx = Ctx { ops: 0 };
    let mut sum = 0u64;
    for i in 0..trees {
        let t = ctx.random(&mut rng, 11)?;
        // SAFETY: every tree below is built by ctx, live, and owned by this loop until freed.
        unsafe {
            let d = ctx.diff(t)?;
            let d2 = ctx.copy(d)?;
            let s = ctx.simplify(d2)?;
            for x in [-3i64, 2, 7] {
                let (vd, vs) = (eval(d, x), eval(s, x));
                if vd != vs {
                    return Err(format!(
                        "tree {i}: derivative {vd} != simplified {vs} at x={x}"
                    ));
                }
                sum = mix(sum, vs as u64);
            }
            sum = mix(sum, eval(t, 5) as u64);
            ctx.free_tree(t);
            ctx.free_tree(d);
            ctx.free_tree(s);
        }
    }
    Ok(Outcome {
        checksum: sum,
        ops: ctx.ops,
    })
}
