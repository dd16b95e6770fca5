//! Gaussian mixtures fitted by EM, scored by BIC (Fraley & Raftery 2002,
//! "Model-based clustering, discriminant analysis, and density estimation",
//! JASA 97:611-631).
//!
//! `linfa-clustering` provides k-means (used here to initialise EM) and a
//! full-covariance GMM (used for [`Covariance::Full`]). It has no tied or
//! diagonal covariance, which are the structures that matter here: a tied
//! covariance models arms as location shifts of one correlated population
//! with `d + 1` parameters per extra arm, where a full covariance needs
//! `d + d(d+1)/2 + 1` and can therefore only find very large arms at a few
//! thousand sessions. Those two are a short EM below.

use linfa::traits::{Fit as _, Predict as _};
use linfa::DatasetBase;
use linfa_clustering::{GaussianMixtureModel, KMeans};
use rand::{Rng, SeedableRng};
use rand_xoshiro::{Xoshiro256Plus, Xoshiro256PlusPlus};

use super::linalg::{cholesky, forward_solve, log_det_chol, Mat};
use super::Covariance;

/// Ridge added to every variance (data are on a unit scale).
const REG: f64 = 1e-3;
const MAX_ITER: usize = 100;
/// EM iterations per start before the best start is run to convergence.
const SHORT_ITER: usize = 10;
/// k-means initialisations per k > 1 (besides the skew split).
const N_INIT: usize = 1;
/// Rows used to find a skewed direction.
const SKEW_ROWS: usize = 1000;
/// Convergence: change of the mean log-likelihood per row.
const TOL: f64 = 1e-4;
const LN_2PI: f64 = 1.837_877_066_409_345_5;

#[derive(Debug, Clone)]
pub(crate) struct Gmm {
    pub cov: Covariance,
    pub k: usize,
    pub d: usize,
    pub weights: Vec<f64>,
    /// k x d
    pub means: Vec<f64>,
    /// Tied: one Cholesky factor; Full: k factors; Diagonal: empty.
    chols: Vec<Vec<f64>>,
    /// Diagonal: k x d variances.
    vars: Vec<f64>,
    /// log det of each component's covariance.
    log_dets: Vec<f64>,
    /// Tied: whitened means L^-1 mu_c (k x d), so that one triangular solve
    /// per row serves every component.
    wmeans: Vec<f64>,
}

pub(crate) struct Fit {
    pub model: Gmm,
    pub loglik: f64,
}

/// Free parameters of a k-component mixture in d dimensions.
pub(crate) fn n_params(k: usize, d: usize, cov: Covariance) -> usize {
    let cov_params = match cov {
        Covariance::Tied => d * (d + 1) / 2,
        Covariance::Diagonal => k * d,
        Covariance::Full => k * d * (d + 1) / 2,
    };
    (k - 1) + k * d + cov_params
}

/// BIC = -2 log L + p ln n (lower is better).
pub(crate) fn bic(loglik: f64, p: usize, n: usize) -> f64 {
    -2.0 * loglik + p as f64 * (n as f64).ln()
}

/// k-means (k-means++ seeding) labels and centroids, from linfa.
pub(crate) fn kmeans_labels(
    x: &Mat,
    k: usize,
    seed: u64,
    runs: usize,
) -> Option<(Vec<usize>, Vec<f64>)> {
    if k == 1 {
        let mut c = vec![0.0; x.d];
        for i in 0..x.n {
            for (a, b) in c.iter_mut().zip(x.row(i)) {
                *a += b / x.n as f64;
            }
        }
        return Some((vec![0; x.n], c));
    }
    if x.n < k {
        return None;
    }
    let ds = DatasetBase::from(x.to_ndarray());
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .n_runs(runs.max(1))
        .max_n_iterations(100)
        .tolerance(1e-4)
        .fit(&ds)
        .ok()?;
    let labels = model.predict(ds.records()).to_vec();
    let centroids = model.centroids().iter().copied().collect();
    Some((labels, centroids))
}

/// Fit a k-component mixture. `None` when EM degenerates (an empty
/// component, a singular covariance, or linfa failing).
/// Bootstrap re-fit: the usual starts plus a warm start from `warm` (the
/// original clustering of the resampled rows); EM keeps the best likelihood.
pub(crate) fn fit_warm(
    x: &Mat,
    k: usize,
    cov: Covariance,
    seed: u64,
    warm: Vec<usize>,
) -> Option<Fit> {
    fit_with(x, k, cov, seed, None, Some(warm))
}

/// Fit a k-component mixture. `prev`: labels of a (k-1)-component fit, whose
/// groups are split in turn (2-means) as further EM starts.
pub(crate) fn fit(
    x: &Mat,
    k: usize,
    cov: Covariance,
    seed: u64,
    prev: Option<&[usize]>,
) -> Option<Fit> {
    fit_with(x, k, cov, seed, prev, None)
}

fn fit_with(
    x: &Mat,
    k: usize,
    cov: Covariance,
    seed: u64,
    prev: Option<&[usize]>,
    warm: Option<Vec<usize>>,
) -> Option<Fit> {
    if x.n <= k || x.d == 0 {
        return None;
    }
    if cov == Covariance::Full && k > 1 {
        return fit_full_linfa(x, k, seed);
    }
    // Tied: k-means in the whitened space (Mahalanobis distances under the
    // pooled covariance), so that the initial split follows the direction
    // the tied model can use rather than the largest-variance axis. EM runs
    // from several k-means starts and keeps the best likelihood.
    let em_cov = if cov == Covariance::Full {
        Covariance::Tied
    } else {
        cov
    };
    let init_space = if em_cov == Covariance::Tied && k > 1 {
        whiten(x)?
    } else {
        x.clone()
    };
    let xtx = if em_cov == Covariance::Tied {
        gram(x)
    } else {
        Vec::new()
    };
    let quick = warm.is_some();
    let starts = if k == 1 { 1 } else { N_INIT };
    let mut inits: Vec<Vec<usize>> = Vec::new();
    if k > 1 && !quick {
        let mut cache = DirCache::new();
        for cut in [None, Some(0.9), Some(0.8), Some(0.95)] {
            inits.extend(skew_split_labels(&init_space, k, cut, &mut cache));
        }
    }
    if k == 2 && !quick {
        inits.extend(axis_split_labels(x, AXIS_INITS));
    }
    if let Some(w) = warm.filter(|w| w.len() == x.n && w.iter().all(|&l| l < k)) {
        inits.push(w);
    }
    if let Some(prev) = prev.filter(|p| k > 1 && p.len() == x.n) {
        for c in 0..k - 1 {
            let members: Vec<usize> = (0..x.n).filter(|&i| prev[i] == c).collect();
            if members.len() < 4 {
                continue;
            }
            let sub = x.select_rows(&members);
            if let Some((l2, _)) = kmeans_labels(&sub, 2, seed.wrapping_add(200 + c as u64), 3) {
                let mut labels = prev.to_vec();
                for (pos, &i) in members.iter().enumerate() {
                    if l2[pos] == 1 {
                        labels[i] = k - 1;
                    }
                }
                inits.push(labels);
            }
        }
    }
    // k-means both in the whitened space (good for small arms) and on the
    // scaled values (good for large, balanced arms, which whitening shrinks).
    for s in 0..starts {
        inits.extend(
            kmeans_labels(
                &init_space,
                k,
                seed.wrapping_add(s as u64),
                if quick { 1 } else { 5 },
            )
            .map(|r| r.0),
        );
        if k > 1 && em_cov == Covariance::Tied && !quick {
            inits.extend(kmeans_labels(x, k, seed.wrapping_add(100 + s as u64), 5).map(|r| r.0));
        }
    }
    // Short EM from every start, then the best one to convergence
    // (Biernacki, Celeux & Govaert 2003).
    let mut best: Option<(Gmm, f64)> = None;
    for labels in inits {
        let Some(m0) = from_labels(x, &labels, k, em_cov, &xtx) else {
            continue;
        };
        let short = if k == 1 { MAX_ITER } else { SHORT_ITER };
        if let Some((m, ll)) = em(x, m0, &xtx, short) {
            if best.as_ref().is_none_or(|b| ll > b.1) {
                best = Some((m, ll));
            }
        }
    }
    let (model, _) = best?;
    let (mut model, ll) = em(x, model, &xtx, MAX_ITER)?;
    // A Full k = 1 fit is the tied one; keep its whitened form for speed.
    model.cov = if cov == Covariance::Full {
        Covariance::Tied
    } else {
        cov
    };
    Some(Fit { model, loglik: ll })
}

/// Axis splits kept as k = 2 starts (see [`axis_split_labels`]).
const AXIS_INITS: usize = 3;
/// Share of rows an axis split puts in its small group.
const AXIS_TAIL: f64 = 0.15;

/// Starts for an arm switched on by one feature (a flag such as 1h caching:
/// every arm session at one extreme of that feature) with milder shifts in
/// others. After normal scores such a feature is an ordinary Gaussian and
/// the arm its upper (or lower) tail, which neither k-means nor the skewed
/// direction isolates. For each feature, its top and bottom `AXIS_TAIL` of
/// rows form a candidate group; the `keep` candidates whose groups differ
/// most from the rest in the *other* features (squared distance between the
/// group means, the split feature left out) are returned. EM and BIC then
/// decide, and the gates judge the result.
fn axis_split_labels(x: &Mat, keep: usize) -> Vec<Vec<usize>> {
    let n = x.n;
    let tail = (n as f64 * AXIS_TAIL) as usize;
    if tail < x.d + 1 || x.d < 2 {
        return Vec::new();
    }
    let mut scored: Vec<(f64, Vec<usize>)> = Vec::new();
    for j in 0..x.d {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| x.row(a)[j].total_cmp(&x.row(b)[j]).then(a.cmp(&b)));
        for group in [&order[n - tail..], &order[..tail]] {
            let mut labels = vec![0usize; n];
            for &i in group {
                labels[i] = 1;
            }
            let (mut m1, mut m0) = (vec![0.0; x.d], vec![0.0; x.d]);
            for (i, &l) in labels.iter().enumerate() {
                let m = if l == 1 { &mut m1 } else { &mut m0 };
                for (a, v) in m.iter_mut().zip(x.row(i)) {
                    *a += v;
                }
            }
            let (n1, n0) = (tail as f64, (n - tail) as f64);
            let dist: f64 = (0..x.d)
                .filter(|&c| c != j)
                .map(|c| (m1[c] / n1 - m0[c] / n0).powi(2))
                .sum();
            scored.push((dist, labels));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(keep).map(|(_, l)| l).collect()
}

/// Divisive initialisation for small, shifted groups. k-means favours
/// balanced splits and often cuts a big population in half rather than
/// isolate a 10% arm. An arm shows as a *skewed* direction of the whitened
/// data (null directions are close to symmetric), so we repeatedly take the
/// group whose most skewed direction (tensor power iteration on the third
/// moment, w <- E[z (w.z)^2]) splits best in one dimension, and split it there.
fn skew_split_labels(
    z: &Mat,
    k: usize,
    cut: Option<f64>,
    cache: &mut DirCache,
) -> Option<Vec<usize>> {
    let mut labels = vec![0usize; z.n];
    for next in 1..k {
        let mut best: Option<(f64, usize, Vec<usize>)> = None;
        for c in 0..next {
            let members: Vec<usize> = (0..z.n).filter(|&i| labels[i] == c).collect();
            if members.len() < 2 * (z.d + 1) {
                continue;
            }
            if let Some((gain, upper)) = best_skew_split(z, &members, cut, cache) {
                if best.as_ref().is_none_or(|b| gain > b.0) {
                    best = Some((gain, c, upper));
                }
            }
        }
        let (_, _, upper) = best?;
        for i in upper {
            labels[i] = next;
        }
    }
    Some(labels)
}

/// The most skewed direction of `members` and a cut along it: the 1-D
/// two-means cut, or the given quantile. Returns the between-groups sum of
/// squares of the cut and the rows above it.
/// Skewed directions already found, by member rows.
type DirCache = std::collections::HashMap<Vec<usize>, Option<Vec<f64>>>;

fn best_skew_split(
    z: &Mat,
    members: &[usize],
    cut: Option<f64>,
    cache: &mut DirCache,
) -> Option<(f64, Vec<usize>)> {
    let d = z.d;
    let m = members.len() as f64;
    let mut mean = vec![0.0; d];
    for &i in members {
        for (a, v) in mean.iter_mut().zip(z.row(i)) {
            *a += v / m;
        }
    }
    let centred: Vec<Vec<f64>> = members
        .iter()
        .map(|&i| z.row(i).iter().zip(&mean).map(|(v, a)| v - a).collect())
        .collect();
    let w = match cache.get(members) {
        Some(w) => w.clone()?,
        None => {
            let w = skew_direction(&centred);
            cache.insert(members.to_vec(), w.clone());
            w?
        }
    };
    let mut proj: Vec<(f64, usize)> = centred
        .iter()
        .zip(members)
        .map(|(r, &i)| (r.iter().zip(&w).map(|(a, b)| a * b).sum(), i))
        .collect();
    proj.sort_by(|a, b| a.0.total_cmp(&b.0));
    // 1-D two-means: the cut maximising the between-groups sum of squares.
    let total: f64 = proj.iter().map(|p| p.0).sum();
    let n = proj.len();
    let mut left = 0.0;
    let mut best = (0.0, n);
    let min_side = (n / 50).max(2);
    for (j, p) in proj.iter().enumerate().take(n - min_side) {
        left += p.0;
        let nl = (j + 1) as f64;
        if j + 1 < min_side {
            continue;
        }
        let nr = n as f64 - nl;
        let between = nl * nr / n as f64 * (left / nl - (total - left) / nr).powi(2);
        if between > best.0 {
            best = (between, j + 1);
        }
    }
    if let Some(q) = cut {
        let j = ((n as f64 * q) as usize).clamp(1, n - 1);
        let left: f64 = proj[..j].iter().map(|p| p.0).sum();
        let (nl, nr) = (j as f64, (n - j) as f64);
        let between = nl * nr / n as f64 * (left / nl - (total - left) / nr).powi(2);
        best = (between, j);
    }
    if best.1 >= n {
        return None;
    }
    Some((best.0, proj[best.1..].iter().map(|p| p.1).collect()))
}

/// Direction of largest third moment of centred rows.
fn skew_direction(centred: &[Vec<f64>]) -> Option<Vec<f64>> {
    let d = centred.first()?.len();
    let norm = |w: &mut Vec<f64>| {
        let l = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        if l > 0.0 && l.is_finite() {
            w.iter_mut().for_each(|v| *v /= l);
            true
        } else {
            false
        }
    };
    // Tensor power iteration from several starts: E[z |z|^2] (the third
    // moment contracted with the identity) and a few fixed pseudo-random
    // directions; on at most SKEW_ROWS evenly spaced rows. The direction
    // with the largest third moment wins.
    let step = centred.len().div_ceil(SKEW_ROWS).max(1);
    let few: Vec<&Vec<f64>> = centred.iter().step_by(step).collect();
    let third = |w: &[f64]| -> f64 {
        few.iter()
            .map(|r| r.iter().zip(w).map(|(a, b)| a * b).sum::<f64>().powi(3))
            .sum::<f64>()
    };
    let mut starts: Vec<Vec<f64>> = Vec::new();
    let mut w0 = vec![0.0; d];
    for r in &few {
        let q: f64 = r.iter().map(|v| v * v).sum();
        for (a, v) in w0.iter_mut().zip(r.iter()) {
            *a += v * q;
        }
    }
    if norm(&mut w0) {
        starts.push(w0);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x0005_ce3d);
    for _ in 0..16 {
        let mut w: Vec<f64> = (0..d).map(|_| rng.gen::<f64>() - 0.5).collect();
        if norm(&mut w) {
            starts.push(w);
        }
    }
    let mut best_w: Option<(f64, Vec<f64>)> = None;
    for mut w in starts {
        for _ in 0..20 {
            let mut nw = vec![0.0; d];
            for r in &few {
                let t: f64 = r.iter().zip(&w).map(|(a, b)| a * b).sum();
                for (a, v) in nw.iter_mut().zip(r.iter()) {
                    *a += v * t * t;
                }
            }
            if !norm(&mut nw) {
                break;
            }
            let change: f64 = nw.iter().zip(&w).map(|(a, b)| (a - b).abs()).sum();
            w = nw;
            if change < 1e-6 {
                break;
            }
        }
        let t = third(&w);
        if best_w.as_ref().is_none_or(|b| t > b.0) {
            best_w = Some((t, w));
        }
    }
    best_w.map(|b| b.1)
}

/// Rows mapped to L^-1 x with L L^T the covariance of the rows.
pub(crate) fn whiten(x: &Mat) -> Option<Mat> {
    let d = x.d;
    let n = x.n as f64;
    let mut mean = vec![0.0; d];
    for i in 0..x.n {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += v / n;
        }
    }
    let mut s = gram(x);
    for a in 0..d {
        for b in 0..d {
            s[a * d + b] = s[a * d + b] / n - mean[a] * mean[b];
        }
        s[a * d + a] += REG;
    }
    let l = cholesky(&s, d)?;
    let mut out = x.clone();
    for i in 0..x.n {
        let row = &mut out.data[i * d..(i + 1) * d];
        for (r, m) in row.iter_mut().zip(&mean) {
            *r -= m;
        }
        forward_solve(&l, d, row);
    }
    Some(out)
}

/// The mixture whose components are the given hard groups.
fn from_labels(x: &Mat, labels: &[usize], k: usize, cov: Covariance, xtx: &[f64]) -> Option<Gmm> {
    let mut resp = vec![0.0; x.n * k];
    for (i, &l) in labels.iter().enumerate() {
        resp[i * k + l] = 1.0;
    }
    m_step(x, &resp, k, cov, xtx)
}

/// EM from `model` for at most `max_iter` iterations; returns the last
/// model and its log-likelihood.
fn em(x: &Mat, mut model: Gmm, xtx: &[f64], max_iter: usize) -> Option<(Gmm, f64)> {
    let k = model.k;
    let cov = model.cov;
    let mut resp = vec![0.0; x.n * k];
    let mut prev = f64::NEG_INFINITY;
    let mut ll = model.e_step(x, &mut resp);
    for _ in 0..max_iter {
        if !ll.is_finite() {
            return None;
        }
        if (ll - prev).abs() / (x.n as f64) < TOL {
            break;
        }
        prev = ll;
        let next = m_step(x, &resp, k, cov, xtx)?;
        let next_ll = next.e_step(x, &mut resp);
        model = next;
        ll = next_ll;
    }
    ll.is_finite().then_some((model, ll))
}

fn gram(x: &Mat) -> Vec<f64> {
    let d = x.d;
    let mut g = vec![0.0; d * d];
    for i in 0..x.n {
        let r = x.row(i);
        for a in 0..d {
            let ra = r[a];
            let row = &mut g[a * d..a * d + a + 1];
            for (gv, rb) in row.iter_mut().zip(&r[..=a]) {
                *gv += ra * rb;
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            g[b * d + a] = g[a * d + b];
        }
    }
    g
}

fn m_step(x: &Mat, resp: &[f64], k: usize, cov: Covariance, xtx: &[f64]) -> Option<Gmm> {
    let (n, d) = (x.n, x.d);
    let mut nk = vec![0.0; k];
    let mut means = vec![0.0; k * d];
    for i in 0..n {
        let r = x.row(i);
        for c in 0..k {
            let w = resp[i * k + c];
            if w == 0.0 {
                continue;
            }
            nk[c] += w;
            for (m, v) in means[c * d..(c + 1) * d].iter_mut().zip(r) {
                *m += w * v;
            }
        }
    }
    if nk.iter().any(|&w| w < 1.0) {
        return None;
    }
    for c in 0..k {
        for m in &mut means[c * d..(c + 1) * d] {
            *m /= nk[c];
        }
    }
    let weights: Vec<f64> = nk.iter().map(|w| w / n as f64).collect();
    match cov {
        Covariance::Tied | Covariance::Full => {
            let mut s = xtx.to_vec();
            for c in 0..k {
                let mu = &means[c * d..(c + 1) * d];
                for a in 0..d {
                    for b in 0..d {
                        s[a * d + b] -= nk[c] * mu[a] * mu[b];
                    }
                }
            }
            for v in &mut s {
                *v /= n as f64;
            }
            for a in 0..d {
                s[a * d + a] += REG;
            }
            let l = cholesky(&s, d)?;
            let ld = log_det_chol(&l, d);
            let mut wmeans = means.clone();
            for c in 0..k {
                forward_solve(&l, d, &mut wmeans[c * d..(c + 1) * d]);
            }
            Some(Gmm {
                cov: Covariance::Tied,
                k,
                d,
                weights,
                means,
                chols: vec![l],
                vars: Vec::new(),
                log_dets: vec![ld; k],
                wmeans,
            })
        }
        Covariance::Diagonal => {
            let mut vars = vec![0.0; k * d];
            for i in 0..n {
                let r = x.row(i);
                for c in 0..k {
                    let w = resp[i * k + c];
                    if w == 0.0 {
                        continue;
                    }
                    for (j, v) in r.iter().enumerate() {
                        let e = v - means[c * d + j];
                        vars[c * d + j] += w * e * e;
                    }
                }
            }
            let mut log_dets = vec![0.0; k];
            for c in 0..k {
                for j in 0..d {
                    let v = vars[c * d + j] / nk[c] + REG;
                    vars[c * d + j] = v;
                    log_dets[c] += v.ln();
                }
            }
            Some(Gmm {
                cov,
                k,
                d,
                weights,
                means,
                chols: Vec::new(),
                vars,
                log_dets,
                wmeans: Vec::new(),
            })
        }
    }
}

/// linfa's full-covariance GMM, converted so that likelihood and posteriors
/// are computed the same way as for the other covariance types.
fn fit_full_linfa(x: &Mat, k: usize, seed: u64) -> Option<Fit> {
    let ds = DatasetBase::from(x.to_ndarray());
    let g = GaussianMixtureModel::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .reg_covariance(REG)
        .tolerance(1e-4)
        .max_n_iterations(300)
        .fit(&ds)
        .ok()?;
    let d = x.d;
    let weights: Vec<f64> = g.weights().to_vec();
    let means: Vec<f64> = g.means().iter().copied().collect();
    let mut chols = Vec::with_capacity(k);
    let mut log_dets = Vec::with_capacity(k);
    for c in 0..k {
        let cov: Vec<f64> = g
            .covariances()
            .index_axis(ndarray::Axis(0), c)
            .iter()
            .copied()
            .collect();
        let l = cholesky(&cov, d)?;
        log_dets.push(log_det_chol(&l, d));
        chols.push(l);
    }
    if weights
        .iter()
        .any(|w| w.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
    {
        return None;
    }
    let model = Gmm {
        cov: Covariance::Full,
        k,
        d,
        weights,
        means,
        chols,
        vars: Vec::new(),
        log_dets,
        wmeans: Vec::new(),
    };
    let loglik = model.loglik(x);
    loglik.is_finite().then_some(Fit { model, loglik })
}

impl Gmm {
    /// Weighted log densities log(w_c N(x | mu_c, S_c)) of one row.
    fn log_probs(&self, row: &[f64], buf: &mut [f64], out: &mut [f64]) {
        let d = self.d;
        match self.cov {
            Covariance::Diagonal => {
                for (c, o) in out.iter_mut().enumerate() {
                    let mu = &self.means[c * d..(c + 1) * d];
                    let var = &self.vars[c * d..(c + 1) * d];
                    let q: f64 = row
                        .iter()
                        .zip(mu)
                        .zip(var)
                        .map(|((x, m), v)| (x - m) * (x - m) / v)
                        .sum();
                    *o = self.weights[c].ln() - 0.5 * (d as f64 * LN_2PI + self.log_dets[c] + q);
                }
            }
            _ if !self.wmeans.is_empty() => {
                buf.copy_from_slice(row);
                forward_solve(&self.chols[0], d, buf);
                for (c, o) in out.iter_mut().enumerate() {
                    let m = &self.wmeans[c * d..(c + 1) * d];
                    let q: f64 = buf.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
                    *o = self.weights[c].ln() - 0.5 * (d as f64 * LN_2PI + self.log_dets[c] + q);
                }
            }
            Covariance::Tied | Covariance::Full => {
                for (c, o) in out.iter_mut().enumerate() {
                    let mu = &self.means[c * d..(c + 1) * d];
                    for ((b, x), m) in buf.iter_mut().zip(row).zip(mu) {
                        *b = x - m;
                    }
                    let l = if self.chols.len() == 1 {
                        &self.chols[0]
                    } else {
                        &self.chols[c]
                    };
                    forward_solve(l, d, buf);
                    let q: f64 = buf.iter().map(|v| v * v).sum();
                    *o = self.weights[c].ln() - 0.5 * (d as f64 * LN_2PI + self.log_dets[c] + q);
                }
            }
        }
    }

    /// E step: fills responsibilities, returns the log-likelihood.
    fn e_step(&self, x: &Mat, resp: &mut [f64]) -> f64 {
        let k = self.k;
        let mut buf = vec![0.0; self.d];
        let mut lp = vec![0.0; k];
        let mut ll = 0.0;
        for i in 0..x.n {
            self.log_probs(x.row(i), &mut buf, &mut lp);
            let lse = log_sum_exp(&lp);
            ll += lse;
            for c in 0..k {
                resp[i * k + c] = (lp[c] - lse).exp();
            }
        }
        ll
    }

    pub fn loglik(&self, x: &Mat) -> f64 {
        let mut buf = vec![0.0; self.d];
        let mut lp = vec![0.0; self.k];
        (0..x.n)
            .map(|i| {
                self.log_probs(x.row(i), &mut buf, &mut lp);
                log_sum_exp(&lp)
            })
            .sum()
    }

    /// Most probable component of each row and its posterior probability.
    pub fn predict(&self, x: &Mat) -> (Vec<usize>, Vec<f64>) {
        let mut buf = vec![0.0; self.d];
        let mut lp = vec![0.0; self.k];
        let mut labels = Vec::with_capacity(x.n);
        let mut probs = Vec::with_capacity(x.n);
        for i in 0..x.n {
            self.log_probs(x.row(i), &mut buf, &mut lp);
            let lse = log_sum_exp(&lp);
            let (best, v) = lp
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (c, &v)| {
                        if v > acc.1 {
                            (c, v)
                        } else {
                            acc
                        }
                    },
                );
            labels.push(best);
            probs.push((v - lse).exp());
        }
        (labels, probs)
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}
