use super::synth::{ari, generate, Arm};
use super::*;

fn params(seed: u64) -> ClusterParams {
    ClusterParams {
        seed,
        ..ClusterParams::default()
    }
}

fn labels_of(r: &StratumResult) -> Vec<usize> {
    r.labels.iter().map(|l| l.map_or(r.k, |v| v)).collect()
}

fn truth_labels(truth: &[Vec<bool>]) -> Vec<usize> {
    truth
        .iter()
        .map(|m| m.iter().enumerate().map(|(i, &b)| (b as usize) << i).sum())
        .collect()
}

#[test]
fn smoke_null() {
    let (cols, _) = generate(600, 25, &[], 1);
    let r = cluster_stratum(&cols, &params(1)).unwrap();
    eprintln!("k={} notes={:?}", r.k, r.notes);
    for s in &r.selection {
        eprintln!("{s:?}");
    }
}

#[test]
fn smoke_arm() {
    let arm = Arm {
        share: 0.1,
        shifts: vec![(0, -2.0), (3, 2.0), (8, -2.0), (11, 2.0)],
    };
    let (cols, truth) = generate(1000, 25, &[arm], 2);
    let r = cluster_stratum(&cols, &params(2)).unwrap();
    eprintln!("k={} cov={:?} notes={:?}", r.k, r.covariance, r.notes);
    for s in &r.selection {
        eprintln!("{s:?}");
    }
    for c in &r.clusters {
        eprintln!(
            "{} {} {:?} {:?}",
            c.id,
            c.size,
            c.stability,
            c.distinguishing.iter().map(|d| &d.text).collect::<Vec<_>>()
        );
    }
    eprintln!("ari={}", ari(&labels_of(&r), &truth_labels(&truth)));
}

/// Measurements for docs/arms-method.md (run in release:
/// `cargo test --release --lib analysis::cluster::tests::explore -- --ignored --nocapture`).
#[test]
#[ignore]
fn explore() {
    let variant = std::env::var("ARMS_VARIANT").unwrap_or_default();
    let mk = |seed: u64| {
        let mut p = params(seed);
        if variant.contains("raw") {
            p.normal_scores = false;
        }
        if variant.contains("tiedonly") {
            p.covariances = vec![Covariance::Tied];
        }
        if variant.contains("nogates") {
            p.min_effect = 0.0;
            p.min_stability = 0.0;
            p.min_share = 0.0;
        }
        p
    };
    let t0 = std::time::Instant::now();
    let mut ones = 0;
    for seed in 0..20 {
        let (cols, _) = generate(1000, 25, &[], 100 + seed);
        let r = cluster_stratum(&cols, &mk(seed)).unwrap();
        if r.k == 1 {
            ones += 1;
        } else {
            eprintln!(
                "null seed {seed}: k={} {:?} {:?}",
                r.k, r.covariance, r.notes
            );
        }
    }
    eprintln!("null: k=1 in {ones}/20 ({:.1?})", t0.elapsed());
    let t0 = std::time::Instant::now();
    for shift in [1.0, 1.5, 2.0, 2.5] {
        let mut aris = Vec::new();
        for seed in 0..5 {
            let arm = Arm {
                share: 0.1,
                shifts: vec![(0, -shift), (3, shift), (8, -shift), (11, shift)],
            };
            let (cols, truth) = generate(2000, 25, &[arm], 200 + seed);
            let r = cluster_stratum(&cols, &mk(seed)).unwrap();
            aris.push((r.k, ari(&labels_of(&r), &truth_labels(&truth))));
        }
        eprintln!("arm shift {shift}: {aris:.3?}");
    }
    eprintln!("arms ({:.1?})", t0.elapsed());
}

#[test]
#[ignore]
fn diag_one() {
    let shift: f64 = std::env::var("SHIFT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.5);
    let arm = Arm {
        share: 0.1,
        shifts: vec![(0, -shift), (3, shift), (8, -shift), (11, shift)],
    };
    let (cols, truth) = generate(2000, 25, &[arm], 200);
    let prep = preprocess::prepare(&cols, 0, true);
    let tl = truth_labels(&truth);
    for cov in [Covariance::Tied, Covariance::Diagonal, Covariance::Full] {
        for k in 1..=4 {
            let t = std::time::Instant::now();
            let f = gmm::fit(&prep.x, k, cov, 5);
            let el = t.elapsed();
            if let Some(f) = f {
                let (l, _) = f.model.predict(&prep.x);
                let np = gmm::n_params(k, prep.x.d, cov);
                eprintln!(
                    "{cov} k={k} ll={:.1} bic={:.1} ari={:.3} {:.1?}",
                    f.loglik,
                    gmm::bic(f.loglik, np, prep.x.n),
                    ari(&l, &tl),
                    el
                );
            } else {
                eprintln!("{cov} k={k} failed {el:.1?}");
            }
        }
    }
    // Oracle: labels = truth; a tied model fitted from the truth.
    let t = std::time::Instant::now();
    let r = cluster_stratum(&cols, &params(0)).unwrap();
    eprintln!("full run {:.1?} k={} notes={:?}", t.elapsed(), r.k, r.notes);
}
