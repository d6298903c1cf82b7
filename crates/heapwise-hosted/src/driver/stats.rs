//! The statistics of the tables: median, min–max and geometric mean.
//!
//! Invariant: inputs are non-empty finite positive numbers where a geometric mean is taken.

/// The median of `xs` (mean of the middle two for an even count); `None` when empty.
///
/// ```
/// use heapwise_hosted::driver::stats::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// ```
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// `(min, max)` of `xs`; `None` when empty.
pub fn min_max(xs: &[f64]) -> Option<(f64, f64)> {
    let min = xs.iter().copied().reduce(f64::min)?;
    let max = xs.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

/// The geometric mean of `xs`; `None` when empty.
///
/// ```
/// use heapwise_hosted::driver::stats::geomean;
/// assert!((geomean(&[0.5, 2.0]).unwrap() - 1.0).abs() < 1e-12);
/// ```
pub fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}
