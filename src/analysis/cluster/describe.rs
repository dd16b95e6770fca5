//! What distinguishes each cluster from the rest of its stratum, in plain words.
//!
//! Effect size: Cliff's delta (Cliff 1993, "Dominance statistics: ordinal
//! analyses to answer ordinal questions", Psychological Bulletin 114:494-509),
//! P(cluster > rest) - P(cluster < rest), on the original values with NULLs
//! left out. It needs no distributional assumption, is unchanged by the
//! catalog transforms, and copes with point masses. |delta| below 0.147 is
//! negligible (Romano et al. 2006) and is not listed. The ratio of medians
//! is reported on the original scale.

use super::preprocess::median;
use super::preprocess::Prepared;
use super::select::Fitted;
use super::select::{cliffs_delta_from_ranks, midranks};
use super::{ClusterSummary, Direction, Distinguishing, FeatureColumn};

/// Features listed per cluster, at most.
const TOP: usize = 5;
/// Smallest |Cliff's delta| worth listing.
const NEGLIGIBLE: f64 = 0.147;

pub(crate) fn summarise(
    columns: &[FeatureColumn],
    prep: &Prepared,
    fit: &Fitted,
) -> Vec<ClusterSummary> {
    let n = fit.labels.len();
    let k = fit.k;
    let mut sizes = vec![0usize; k];
    for l in fit.labels.iter().flatten() {
        sizes[*l] += 1;
    }
    let mut dist: Vec<Vec<Distinguishing>> = vec![Vec::new(); k];
    if k > 1 {
        for &j in &prep.used {
            let col = &columns[j];
            let present: Vec<(usize, f64)> = col
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x)))
                .collect();
            let vals: Vec<f64> = present.iter().map(|p| p.1).collect();
            let ranks = midranks(&vals);
            for (c, out) in dist.iter_mut().enumerate() {
                let mut inside = Vec::new();
                let mut rest = Vec::new();
                let mut rank_sum = 0.0;
                for (pos, &(i, v)) in present.iter().enumerate() {
                    if fit.labels[i] == Some(c) {
                        inside.push(v);
                        rank_sum += ranks[pos];
                    } else {
                        rest.push(v);
                    }
                }
                let delta = cliffs_delta_from_ranks(rank_sum, inside.len(), rest.len());
                if delta.abs() < NEGLIGIBLE {
                    continue;
                }
                let mc = median(&mut inside);
                let mr = median(&mut rest);
                out.push(describe(&col.name, delta, mc, mr));
            }
        }
        for v in &mut dist {
            v.sort_by(|a, b| {
                b.cliffs_delta
                    .abs()
                    .total_cmp(&a.cliffs_delta.abs())
                    .then(a.feature.cmp(&b.feature))
            });
            v.truncate(TOP);
        }
    }
    let reference = reference_cluster(prep, fit, &sizes);
    (0..k)
        .map(|c| ClusterSummary {
            id: c,
            size: sizes[c],
            share: if n == 0 {
                0.0
            } else {
                sizes[c] as f64 / n as f64
            },
            stability: None,
            is_reference: c == reference,
            distinguishing: std::mem::take(&mut dist[c]),
        })
        .collect()
}

/// The cluster whose per-feature medians (model space) lie closest to the
/// stratum's overall medians; ties go to the larger cluster.
fn reference_cluster(prep: &Prepared, fit: &Fitted, sizes: &[usize]) -> usize {
    let x = &prep.x;
    let k = fit.k;
    if k <= 1 {
        return 0;
    }
    let mut best = (0, f64::INFINITY);
    let overall: Vec<f64> = (0..x.d)
        .map(|j| median(&mut (0..x.n).map(|i| x.row(i)[j]).collect::<Vec<_>>()))
        .collect();
    for c in 0..k {
        if sizes[c] == 0 {
            continue;
        }
        let d2: f64 = (0..x.d)
            .map(|j| {
                let mut v: Vec<f64> = (0..x.n)
                    .filter(|&i| fit.labels[i] == Some(c))
                    .map(|i| x.row(i)[j])
                    .collect();
                (median(&mut v) - overall[j]).powi(2)
            })
            .sum();
        let better =
            d2 < best.1 - 1e-12 || ((d2 - best.1).abs() <= 1e-12 && sizes[c] > sizes[best.0]);
        if better {
            best = (c, d2);
        }
    }
    best.0
}

fn describe(name: &str, delta: f64, mc: f64, mr: f64) -> Distinguishing {
    let direction = if delta > 0.0 {
        Direction::Higher
    } else {
        Direction::Lower
    };
    let word = match direction {
        Direction::Higher => "higher",
        Direction::Lower => "lower",
    };
    let ratio = (mc > 0.0 && mr > 0.0).then(|| mc / mr);
    let text = match ratio {
        Some(r) if (r >= 1.05 && delta > 0.0) || (r <= 1.0 / 1.05 && delta < 0.0) => {
            let f = if r >= 1.0 { r } else { 1.0 / r };
            format!("{name} {f:.1}x {word}")
        }
        _ => format!("{name} {word} (median {} vs {})", fmt_num(mc), fmt_num(mr)),
    };
    Distinguishing {
        feature: name.to_string(),
        cliffs_delta: delta,
        median_cluster: mc,
        median_rest: mr,
        ratio,
        direction,
        text,
    }
}

/// Short human number: 3 significant digits, no exponent for usual sizes.
fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}
