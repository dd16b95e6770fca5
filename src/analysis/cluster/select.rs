//! Model selection that can answer k = 1.
//!
//! * GMM (default): every (k, covariance) for k = 1..=K is fitted on the
//!   (sub)sample and scored by BIC (Fraley & Raftery 2002). Candidates are
//!   taken in BIC order; the first one that passes the gates wins. k = 1
//!   always passes, so any split must beat "one population" on BIC *and*
//!   pass the gates.
//! * k-means: k = 2..=K scored by mean silhouette (Rousseeuw 1987, "Silhouettes:
//!   a graphical aid to the interpretation and validation of cluster
//!   analysis", J. Comput. Appl. Math. 20:53-65); a best silhouette under
//!   0.25 ("no substantial structure", Kaufman & Rousseeuw 1990) means k = 1.
//! * HDBSCAN (Campello, Moulavi & Sander 2013, "Density-based clustering
//!   based on hierarchical density estimates", PAKDD): k is whatever the
//!   density tree holds; rows outside every cluster are noise.
//!
//! Gates (auto k only): every cluster holds at least `min_share` of the
//! fitted rows; every cluster differs from the rest of the stratum by
//! |Cliff's delta| >= `min_effect` in at least one feature (a spread-only
//! split, e.g. a broad component catching heavy tails, has none); every
//! cluster has mean bootstrap Jaccard >= `min_stability` (Hennig 2007).

use hdbscan::{Hdbscan, HdbscanHyperParams};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::gmm::{self, Gmm};
use super::linalg::Mat;
use super::preprocess::Prepared;
use super::stability::{bootstrap_jaccard, derive_seed, Refit};
use super::{ClusterParams, Covariance, Method, SelectionScore};

/// At most this many gate evaluations (each with bootstraps) before giving up on k > 1.
const MAX_GATED: usize = 6;
/// Silhouette is computed on at most this many fitted rows (it is quadratic).
const SILHOUETTE_ROWS: usize = 2000;
/// HDBSCAN is run on at most this many rows.
const HDBSCAN_ROWS: usize = 3000;
/// Below this best silhouette, k-means answers k = 1.
const MIN_SILHOUETTE: f64 = 0.25;

pub(crate) struct Fitted {
    pub k: usize,
    pub covariance: Option<Covariance>,
    pub selection: Vec<SelectionScore>,
    pub notes: Vec<String>,
    pub labels: Vec<Option<usize>>,
    pub probability: Vec<f64>,
    /// Per final cluster id.
    pub stability: Vec<Option<f64>>,
    pub fit_rows: usize,
}

/// A fitted GMM candidate: (BIC, index in the selection list, covariance, model).
type Candidate = (f64, usize, Covariance, Gmm);

/// How rows outside the fitted subsample are assigned.
enum Assigner {
    One,
    Gmm(Gmm),
    /// Centroids (k x d) and, for HDBSCAN, the largest member distance per
    /// cluster beyond which a row is noise.
    Centroids(Vec<f64>, Option<Vec<f64>>),
}

struct Choice {
    k: usize,
    covariance: Option<Covariance>,
    fit_labels: Vec<Option<usize>>,
    assigner: Assigner,
    stability: Option<Vec<f64>>,
}

struct Ctx<'a> {
    xf: &'a Mat,
    ranks: Vec<Vec<f64>>,
    p: &'a ClusterParams,
    notes: Vec<String>,
}

pub(crate) fn run(prep: &Prepared, p: &ClusterParams) -> Fitted {
    let x = &prep.x;
    let n = x.n;
    let fit_idx: Vec<usize> = if n > p.max_fit_rows {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(p.seed, 1));
        let mut v = sample(&mut rng, n, p.max_fit_rows).into_vec();
        v.sort_unstable();
        v
    } else {
        (0..n).collect()
    };
    let xf = x.select_rows(&fit_idx);
    let mut ctx = Ctx {
        ranks: column_ranks(&xf),
        xf: &xf,
        p,
        notes: Vec::new(),
    };
    let mut selection = Vec::new();
    let choice = match p.method {
        Method::Gmm => choose_gmm(&mut ctx, &mut selection),
        Method::KMeans => choose_kmeans(&mut ctx, &mut selection),
        Method::Hdbscan => choose_hdbscan(&mut ctx),
    };
    let Choice {
        k,
        covariance,
        fit_labels,
        assigner,
        stability,
    } = choice;
    // Labels and probabilities of every row.
    let (mut labels, mut probability): (Vec<Option<usize>>, Vec<f64>) = match &assigner {
        Assigner::One => (vec![Some(0); n], vec![1.0; n]),
        Assigner::Gmm(g) => {
            let (l, pr) = g.predict(x);
            (l.into_iter().map(Some).collect(), pr)
        }
        Assigner::Centroids(c, radius) => {
            let mut l = Vec::with_capacity(n);
            for i in 0..n {
                let (best, dist) = nearest(c, x.d, x.row(i));
                let noise = radius.as_ref().is_some_and(|r| dist > r[best]);
                l.push((!noise).then_some(best));
            }
            let pr = l
                .iter()
                .map(|v| if v.is_some() { 1.0 } else { 0.0 })
                .collect();
            (l, pr)
        }
    };
    // Fitted rows keep the labels the model (and the gates) saw; this
    // matters for HDBSCAN, whose fitted labels are not centroid-based.
    if !matches!(assigner, Assigner::Gmm(_)) {
        for (pos, &i) in fit_idx.iter().enumerate() {
            labels[i] = fit_labels[pos];
            probability[i] = if fit_labels[pos].is_some() { 1.0 } else { 0.0 };
        }
    }
    // Canonical ids: largest cluster first.
    let mut sizes = vec![0usize; k];
    for l in labels.iter().flatten() {
        sizes[*l] += 1;
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut new_id = vec![0; k];
    for (new, &old) in order.iter().enumerate() {
        new_id[old] = new;
    }
    for l in labels.iter_mut().flatten() {
        *l = new_id[*l];
    }
    let stability = order
        .iter()
        .map(|&old| stability.as_ref().map(|s| s[old]))
        .collect();
    Fitted {
        k,
        covariance,
        selection,
        notes: ctx.notes,
        labels,
        probability,
        stability,
        fit_rows: fit_idx.len(),
    }
}

fn one(ctx: &Ctx<'_>) -> Choice {
    Choice {
        k: 1,
        covariance: None,
        fit_labels: vec![Some(0); ctx.xf.n],
        assigner: Assigner::One,
        stability: (ctx.p.bootstrap > 0).then(|| vec![1.0]),
    }
}

fn choose_gmm(ctx: &mut Ctx<'_>, selection: &mut Vec<SelectionScore>) -> Choice {
    let p = ctx.p;
    let (n, d) = (ctx.xf.n, ctx.xf.d);
    let ks: Vec<usize> = match p.k {
        Some(k) => vec![k],
        None => (1..=p.k_max).collect(),
    };
    // Covariance types are fitted in parallel (k in turn within each, as
    // every k also starts from splits of the previous fit); results are
    // merged in a fixed order, so the outcome does not depend on threads.
    let xf = ctx.xf;
    let per_cov: Vec<(Vec<SelectionScore>, Vec<Candidate>)> = p
        .covariances
        .par_iter()
        .map(|&cov| {
            let mut scores = Vec::new();
            let mut fits = Vec::new();
            let mut best_bic = f64::INFINITY;
            let mut worse_in_a_row = 0;
            let mut prev: Option<Vec<usize>> = None;
            for &k in &ks {
                let np = gmm::n_params(k, d, cov);
                let mut score = SelectionScore {
                    k,
                    covariance: Some(cov),
                    score: None,
                    n_params: Some(np),
                    rejected: None,
                };
                if np >= n || k >= n {
                    score.rejected = Some("more parameters than rows".into());
                } else if worse_in_a_row >= 2 {
                    score.rejected = Some("not fitted: BIC worsened at the two smaller k".into());
                } else {
                    let prev_labels = prev.take().filter(|_| p.k.is_none());
                    match gmm::fit(
                        xf,
                        k,
                        cov,
                        derive_seed(p.seed, k as u64),
                        prev_labels.as_deref(),
                    ) {
                        Some(f) => {
                            prev = Some(f.model.predict(xf).0);
                            let b = gmm::bic(f.loglik, np, n);
                            score.score = Some(b);
                            if b < best_bic {
                                best_bic = b;
                                worse_in_a_row = 0;
                            } else {
                                worse_in_a_row += 1;
                            }
                            fits.push((b, scores.len(), cov, f.model));
                        }
                        None => score.rejected = Some("EM degenerated".into()),
                    }
                }
                scores.push(score);
            }
            (scores, fits)
        })
        .collect();
    let mut fits: Vec<Candidate> = Vec::new();
    for (scores, f) in per_cov {
        let offset = selection.len();
        fits.extend(f.into_iter().map(|(b, i, c, m)| (b, i + offset, c, m)));
        selection.extend(scores);
    }
    fits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut gated = 0;
    for (_, sel, cov, model) in fits {
        let k = model.k;
        let (l, _) = model.predict(ctx.xf);
        let labels: Vec<Option<usize>> = l.into_iter().map(Some).collect();
        let orig: Vec<usize> = labels.iter().map(|l| l.unwrap_or(0)).collect();
        let refit = move |xb: &Mat, idx: &[usize], s: u64| {
            let warm = idx.iter().map(|&i| orig[i]).collect();
            gmm::fit_warm(xb, k, cov, s, warm)
                .map(|f| f.model.predict(xb).0.into_iter().map(Some).collect())
        };
        if k == 1 || p.k.is_some() {
            let stability = Some(if k == 1 {
                vec![1.0]
            } else {
                bootstrap_jaccard(ctx.xf, &labels, k, p.bootstrap, p.seed, &refit, None)
            })
            .filter(|_| p.bootstrap > 0);
            if k == 1 {
                return one(ctx);
            }
            return Choice {
                k,
                covariance: Some(cov),
                fit_labels: labels,
                assigner: Assigner::Gmm(model),
                stability,
            };
        }
        if gated >= MAX_GATED {
            selection[sel].rejected = Some("not examined (gate budget spent)".into());
            continue;
        }
        gated += 1;
        match gate(ctx, &labels, k, &refit) {
            Ok(stability) => {
                return Choice {
                    k,
                    covariance: Some(cov),
                    fit_labels: labels,
                    assigner: Assigner::Gmm(model),
                    stability,
                };
            }
            Err(why) => {
                ctx.notes
                    .push(format!("k={k} ({cov} covariance) set aside: {why}"));
                selection[sel].rejected = Some(why);
            }
        }
    }
    one(ctx)
}

/// The gates a k > 1 model must pass; returns the stability per cluster.
fn gate(
    ctx: &Ctx<'_>,
    labels: &[Option<usize>],
    k: usize,
    refit: &Refit<'_>,
) -> Result<Option<Vec<f64>>, String> {
    let p = ctx.p;
    let n = labels.len();
    let mut sizes = vec![0usize; k];
    for l in labels.iter().flatten() {
        sizes[*l] += 1;
    }
    for (c, &s) in sizes.iter().enumerate() {
        let share = s as f64 / n as f64;
        if share < p.min_share {
            return Err(format!(
                "a cluster holds {:.1}% of sessions (< {:.1}%)",
                share * 100.0,
                p.min_share * 100.0
            ));
        }
        let deltas = abs_deltas(&ctx.ranks, labels, c);
        let eff = deltas.first().copied().unwrap_or(0.0);
        if eff < p.min_effect {
            return Err(format!(
                "a cluster differs from the rest by at most |Cliff's delta| {eff:.2} (< {:.2})",
                p.min_effect
            ));
        }
        let strong = deltas.iter().filter(|d| **d >= p.strong_effect).count();
        if strong < p.min_strong_features {
            return Err(format!(
                "a cluster differs strongly (|Cliff's delta| >= {:.2}) in {strong} feature(s), fewer than {}: \
                 one sharp feature alone is more likely a kind of task than a server-side arm",
                p.strong_effect, p.min_strong_features
            ));
        }
    }
    if p.bootstrap == 0 {
        return Ok(None);
    }
    let st = bootstrap_jaccard(
        ctx.xf,
        labels,
        k,
        p.bootstrap,
        derive_seed(p.seed, 7),
        refit,
        Some(p.min_stability),
    );
    let worst = st.iter().copied().fold(f64::INFINITY, f64::min);
    if worst < p.min_stability {
        return Err(format!(
            "a cluster is unstable under bootstrap (mean Jaccard {worst:.2} < {:.2})",
            p.min_stability
        ));
    }
    Ok(Some(st))
}

fn choose_kmeans(ctx: &mut Ctx<'_>, selection: &mut Vec<SelectionScore>) -> Choice {
    let p = ctx.p;
    let ks: Vec<usize> = match p.k {
        Some(k) => vec![k],
        None => (2..=p.k_max).collect(),
    };
    if ks == [1] || ks.is_empty() {
        return one(ctx);
    }
    let sub: Vec<usize> = if ctx.xf.n > SILHOUETTE_ROWS {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(p.seed, 2));
        sample(&mut rng, ctx.xf.n, SILHOUETTE_ROWS).into_vec()
    } else {
        (0..ctx.xf.n).collect()
    };
    let mut cands = Vec::new();
    for &k in &ks {
        let mut score = SelectionScore {
            k,
            covariance: None,
            score: None,
            n_params: None,
            rejected: None,
        };
        match gmm::kmeans_labels(ctx.xf, k, derive_seed(p.seed, k as u64), 3) {
            Some((l, c)) => {
                let sl: Vec<usize> = sub.iter().map(|&i| l[i]).collect();
                let sil = silhouette(&ctx.xf.select_rows(&sub), &sl, k);
                score.score = Some(sil);
                cands.push((sil, selection.len(), k, l, c));
            }
            None => score.rejected = Some("k-means failed".into()),
        }
        selection.push(score);
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut gated = 0;
    for (sil, sel, k, l, c) in cands {
        let labels: Vec<Option<usize>> = l.into_iter().map(Some).collect();
        let refit = move |xb: &Mat, _idx: &[usize], s: u64| {
            gmm::kmeans_labels(xb, k, s, 3).map(|(l, _)| l.into_iter().map(Some).collect())
        };
        if p.k.is_some() {
            let stability = (p.bootstrap > 0)
                .then(|| bootstrap_jaccard(ctx.xf, &labels, k, p.bootstrap, p.seed, &refit, None));
            return Choice {
                k,
                covariance: None,
                fit_labels: labels,
                assigner: Assigner::Centroids(c, None),
                stability,
            };
        }
        if sil < MIN_SILHOUETTE {
            selection[sel].rejected = Some(format!("silhouette below {MIN_SILHOUETTE}"));
            continue;
        }
        if gated >= MAX_GATED {
            continue;
        }
        gated += 1;
        match gate(ctx, &labels, k, &refit) {
            Ok(stability) => {
                return Choice {
                    k,
                    covariance: None,
                    fit_labels: labels,
                    assigner: Assigner::Centroids(c, None),
                    stability,
                }
            }
            Err(why) => {
                ctx.notes.push(format!("k={k} (k-means) set aside: {why}"));
                selection[sel].rejected = Some(why);
            }
        }
    }
    if !ctx.notes.iter().any(|n| n.contains("k-means")) {
        ctx.notes.push(format!(
            "no k-means split reaches a mean silhouette of {MIN_SILHOUETTE}"
        ));
    }
    one(ctx)
}

fn run_hdbscan(x: &Mat, min_cluster: usize) -> Option<Vec<Option<usize>>> {
    // The crate indexes the min_cluster-th neighbour: too few rows would panic.
    if x.n <= 2 * min_cluster.max(2) {
        return None;
    }
    let rows: Vec<Vec<f64>> = (0..x.n).map(|i| x.row(i).to_vec()).collect();
    let hp = HdbscanHyperParams::builder()
        .min_cluster_size(min_cluster.max(2))
        .allow_single_cluster(true)
        .build();
    let raw = std::panic::catch_unwind(|| Hdbscan::new(&rows, hp).cluster())
        .ok()?
        .ok()?;
    // Compact the labels to 0..k.
    let mut map = std::collections::BTreeMap::new();
    for &l in &raw {
        if l >= 0 {
            let next = map.len();
            map.entry(l).or_insert(next);
        }
    }
    Some(raw.iter().map(|&l| (l >= 0).then(|| map[&l])).collect())
}

fn choose_hdbscan(ctx: &mut Ctx<'_>) -> Choice {
    let p = ctx.p;
    // HDBSCAN runs on at most HDBSCAN_ROWS of the fitted rows; the others are
    // assigned to the nearest cluster centroid.
    let n = ctx.xf.n;
    let sub: Vec<usize> = if n > HDBSCAN_ROWS {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(p.seed, 3));
        let mut v = sample(&mut rng, n, HDBSCAN_ROWS).into_vec();
        v.sort_unstable();
        v
    } else {
        (0..n).collect()
    };
    let xs = ctx.xf.select_rows(&sub);
    let min_cluster = ((p.min_share * xs.n as f64).ceil() as usize).max(5);
    let Some(sl) = run_hdbscan(&xs, min_cluster) else {
        ctx.notes
            .push("HDBSCAN failed; reporting one cluster".into());
        return one(ctx);
    };
    let k = sl.iter().flatten().max().map_or(0, |m| m + 1);
    if k <= 1 {
        return one(ctx);
    }
    let d = xs.d;
    let mut cent = vec![0.0; k * d];
    let mut cnt = vec![0usize; k];
    for (i, l) in sl.iter().enumerate() {
        if let Some(c) = *l {
            cnt[c] += 1;
            for (a, b) in cent[c * d..(c + 1) * d].iter_mut().zip(xs.row(i)) {
                *a += b;
            }
        }
    }
    for c in 0..k {
        for a in &mut cent[c * d..(c + 1) * d] {
            *a /= cnt[c] as f64;
        }
    }
    let mut radius = vec![0.0f64; k];
    for (i, l) in sl.iter().enumerate() {
        if let Some(c) = *l {
            let dist = sq_dist(&cent[c * d..(c + 1) * d], xs.row(i));
            radius[c] = radius[c].max(dist);
        }
    }
    // Labels of all fitted rows: HDBSCAN's own where it ran, else by centroid.
    let mut fit_labels = vec![None; n];
    let mut in_sub = vec![None; n];
    for (pos, &i) in sub.iter().enumerate() {
        in_sub[i] = Some(pos);
    }
    for (i, fl) in fit_labels.iter_mut().enumerate() {
        *fl = match in_sub[i] {
            Some(pos) => sl[pos],
            None => {
                let (b, dist) = nearest(&cent, d, ctx.xf.row(i));
                (dist <= radius[b]).then_some(b)
            }
        };
    }
    let refit = move |xb: &Mat, _idx: &[usize], _s: u64| run_hdbscan(xb, min_cluster);
    let stability = if p.bootstrap == 0 {
        None
    } else {
        Some(bootstrap_jaccard(
            &xs,
            &sl,
            k,
            p.bootstrap,
            derive_seed(p.seed, 7),
            &refit,
            Some(p.min_stability),
        ))
    };
    if let Some(st) = &stability {
        let worst = st.iter().copied().fold(f64::INFINITY, f64::min);
        if worst < p.min_stability {
            ctx.notes.push(format!(
                "HDBSCAN's {k} clusters set aside: a cluster is unstable (mean Jaccard {worst:.2} < {:.2})",
                p.min_stability
            ));
            return one(ctx);
        }
    }
    Choice {
        k,
        covariance: None,
        fit_labels,
        assigner: Assigner::Centroids(cent, Some(radius)),
        stability,
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(cent: &[f64], d: usize, row: &[f64]) -> (usize, f64) {
    (0..cent.len() / d)
        .map(|c| (c, sq_dist(&cent[c * d..(c + 1) * d], row)))
        .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
}

/// Mean silhouette width (Euclidean).
fn silhouette(x: &Mat, labels: &[usize], k: usize) -> f64 {
    let n = x.n;
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    let mut total = 0.0;
    let mut sums = vec![0.0; k];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..n {
            if i != j {
                sums[labels[j]] += sq_dist(x.row(i), x.row(j)).sqrt();
            }
        }
        let own = labels[i];
        if sizes[own] <= 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b);
        }
    }
    total / n as f64
}

/// Mid-ranks of every column (1-based).
pub(crate) fn column_ranks(x: &Mat) -> Vec<Vec<f64>> {
    (0..x.d)
        .map(|j| {
            let col: Vec<f64> = (0..x.n).map(|i| x.row(i)[j]).collect();
            midranks(&col)
        })
        .collect()
}

/// 1-based mid-ranks (ties share their average rank).
pub(crate) fn midranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut s = 0;
    while s < idx.len() {
        let mut e = s + 1;
        while e < idx.len() && v[idx[e]] == v[idx[s]] {
            e += 1;
        }
        let avg = (s + e + 1) as f64 / 2.0;
        for &i in &idx[s..e] {
            r[i] = avg;
        }
        s = e;
    }
    r
}

/// Cliff's delta of group vs rest from the mid-ranks of all values:
/// 2U / (n1 n2) - 1, with U the Mann-Whitney statistic of the group.
pub(crate) fn cliffs_delta_from_ranks(rank_sum: f64, n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let (a, b) = (n1 as f64, n2 as f64);
    let u = rank_sum - a * (a + 1.0) / 2.0;
    2.0 * u / (a * b) - 1.0
}

/// |Cliff's delta| of cluster `c` against the rest, per feature, largest first.
fn abs_deltas(ranks: &[Vec<f64>], labels: &[Option<usize>], c: usize) -> Vec<f64> {
    let n1 = labels.iter().filter(|l| **l == Some(c)).count();
    let n2 = labels.len() - n1;
    let mut deltas: Vec<f64> = ranks
        .iter()
        .map(|r| {
            let s: f64 = r
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l == Some(c))
                .map(|(v, _)| v)
                .sum();
            cliffs_delta_from_ranks(s, n1, n2).abs()
        })
        .collect();
    deltas.sort_by(|a, b| b.total_cmp(a));
    deltas
}
