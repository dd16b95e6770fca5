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

fn arm(shift: f64, features: &[usize]) -> Arm {
    Arm {
        share: 0.1,
        shifts: features
            .iter()
            .enumerate()
            .map(|(i, &j)| (j, if i % 2 == 0 { -shift } else { shift }))
            .collect(),
    }
}

/// Null data (one population, skewed / discrete / correlated, with NULLs):
/// k = 1 in at least 19 of 20 seeds.
#[test]
fn null_data_gives_one_cluster() {
    let mut ones = 0;
    for seed in 0..20 {
        let (cols, _) = generate(1000, 25, &[], 100 + seed);
        let r = cluster_stratum(&cols, &params(seed)).unwrap();
        assert_eq!(r.clusters.len(), r.k);
        if r.k == 1 {
            ones += 1;
            assert!(r.clusters[0].is_reference);
            assert_eq!(r.clusters[0].size, 1000);
        }
    }
    assert!(ones >= 19, "k = 1 in only {ones} of 20 null seeds");
}

/// A 10% arm shifted in 4 of 25 features is found (ARI >= 0.9) and described.
#[test]
fn ten_percent_arm_is_recovered() {
    let (cols, truth) = generate(2000, 25, &[arm(2.5, &[0, 3, 8, 11])], 200);
    let r = cluster_stratum(&cols, &params(0)).unwrap();
    assert_eq!(r.k, 2, "notes: {:?}", r.notes);
    let a = ari(&labels_of(&r), &truth_labels(&truth));
    assert!(a >= 0.9, "ARI {a}");
    let arm = &r.clusters[1];
    assert!(r.clusters[0].is_reference && !arm.is_reference);
    assert!((arm.share - 0.1).abs() < 0.03, "share {}", arm.share);
    assert!(arm.stability.unwrap() >= 0.75);
    let top: Vec<&str> = arm
        .distinguishing
        .iter()
        .map(|d| d.feature.as_str())
        .collect();
    for f in ["f00_count", "f03_rate", "f08_rate", "f11_ratio01"] {
        assert!(top.contains(&f), "{f} not in {top:?}");
    }
    let count = arm
        .distinguishing
        .iter()
        .find(|d| d.feature == "f00_count")
        .unwrap();
    assert_eq!(count.direction, Direction::Lower);
    assert!(
        count.text.starts_with("f00_count ") && count.text.ends_with("x lower"),
        "{}",
        count.text
    );
    assert!(count.cliffs_delta < -0.5);
}

/// Two independent experiments (crossing: four combinations) are both recovered.
#[test]
fn crossing_experiments_are_both_recovered() {
    let a = Arm {
        share: 0.3,
        shifts: vec![(0, -2.5), (3, 2.5), (8, -2.5), (11, 2.5)],
    };
    let b = Arm {
        share: 0.4,
        shifts: vec![(1, 2.5), (6, 2.5), (13, -2.5), (18, 2.5)],
    };
    let (cols, truth) = generate(2000, 25, &[a, b], 300);
    let r = cluster_stratum(&cols, &params(0)).unwrap();
    assert_eq!(r.k, 4, "notes: {:?}", r.notes);
    let labels = labels_of(&r);
    for e in 0..2 {
        // Each cluster votes for the majority status of experiment e.
        let mut votes = vec![(0usize, 0usize); r.k + 1];
        for (l, t) in labels.iter().zip(&truth) {
            if t[e] {
                votes[*l].1 += 1
            } else {
                votes[*l].0 += 1
            }
        }
        let pred: Vec<usize> = labels
            .iter()
            .map(|&l| (votes[l].1 > votes[l].0) as usize)
            .collect();
        let te: Vec<usize> = truth.iter().map(|t| t[e] as usize).collect();
        let v = ari(&pred, &te);
        assert!(v >= 0.8, "experiment {e}: ARI {v}");
    }
}

#[test]
fn same_seed_same_result() {
    let (cols, _) = generate(400, 12, &[arm(3.0, &[0, 3, 8])], 5);
    let p = ClusterParams {
        bootstrap: 5,
        ..params(42)
    };
    assert_eq!(
        cluster_stratum(&cols, &p).unwrap(),
        cluster_stratum(&cols, &p).unwrap()
    );
}

#[test]
fn nulls_are_imputed_and_counted() {
    let (mut cols, _) = generate(200, 8, &[], 9);
    cols[2].values[7] = Some(f64::NAN);
    let expect: Vec<(String, usize)> = cols
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.values
                    .iter()
                    .filter(|v| !v.is_some_and(f64::is_finite))
                    .count(),
            )
        })
        .filter(|c| c.1 > 0)
        .collect();
    assert!(expect.iter().any(|c| c.0 == "f05_count" && c.1 > 30));
    assert!(expect.iter().any(|c| c.0 == "f02_small" && c.1 == 1));
    let r = cluster_stratum(
        &cols,
        &ClusterParams {
            bootstrap: 0,
            ..params(1)
        },
    )
    .unwrap();
    assert_eq!(r.imputed, expect);
}

#[test]
fn no_variance_features_are_dropped_and_listed() {
    let (mut cols, _) = generate(100, 6, &[], 3);
    cols.push(FeatureColumn::new(
        "constant",
        Transform::None,
        vec![Some(3.0); 100],
    ));
    cols.push(FeatureColumn::new(
        "all_null",
        Transform::Log1p,
        vec![None; 100],
    ));
    let mut one_value = vec![None; 100];
    one_value[4] = Some(1.0);
    cols.push(FeatureColumn::new("one_value", Transform::Logit, one_value));
    let r = cluster_stratum(
        &cols,
        &ClusterParams {
            bootstrap: 0,
            ..params(1)
        },
    )
    .unwrap();
    assert_eq!(r.dropped, ["constant", "all_null", "one_value"]);
    assert_eq!(r.used.len(), 6);
}

#[test]
fn small_strata_are_reported_not_clustered() {
    let (cols, _) = generate(20, 6, &[], 3);
    assert_eq!(
        cluster_stratum(&cols, &params(0)).unwrap_err(),
        ClusterError::TooSmall { rows: 20, min: 30 }
    );
    let (cols, _) = generate(90, 6, &[], 4);
    let keys: Vec<String> = (0..90)
        .map(|i| if i % 9 == 0 { "haiku" } else { "opus" }.to_string())
        .collect();
    let out = cluster_strata(
        &keys,
        &cols,
        &ClusterParams {
            bootstrap: 0,
            ..params(0)
        },
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0],
        (
            "haiku".to_string(),
            StratumOutcome::TooSmall { rows: 10, min: 30 }
        )
    );
    match &out[1] {
        (k, StratumOutcome::Clustered(r)) => {
            assert_eq!(k, "opus");
            assert_eq!(r.rows, 80);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn degenerate_input_does_not_panic() {
    let p = ClusterParams {
        min_sessions: 1,
        bootstrap: 3,
        ..params(0)
    };
    // No columns, one row, constant data, all NaN.
    assert!(cluster_stratum(&[], &p).is_err());
    let one = vec![FeatureColumn::new("x", Transform::None, vec![Some(1.0)])];
    assert!(cluster_stratum(&one, &p).is_err());
    let constant: Vec<FeatureColumn> = (0..3)
        .map(|j| FeatureColumn::new(format!("c{j}"), Transform::Log1p, vec![Some(2.0); 50]))
        .collect();
    assert_eq!(
        cluster_stratum(&constant, &p).unwrap_err(),
        ClusterError::NoFeatures
    );
    let nan = vec![FeatureColumn::new(
        "n",
        Transform::Logit,
        vec![Some(f64::NAN); 50],
    )];
    assert_eq!(
        cluster_stratum(&nan, &p).unwrap_err(),
        ClusterError::NoFeatures
    );
    let ragged = vec![
        FeatureColumn::new("a", Transform::None, vec![Some(1.0); 5]),
        FeatureColumn::new("b", Transform::None, vec![Some(1.0); 4]),
    ];
    assert!(matches!(
        cluster_stratum(&ragged, &p),
        Err(ClusterError::RaggedColumns(5, 4))
    ));
    // Two rows, infinities, negative counts, ratios outside [0, 1], few distinct values.
    let odd = vec![
        FeatureColumn::new(
            "inf",
            Transform::None,
            vec![Some(f64::INFINITY), Some(1.0), Some(2.0), None],
        ),
        FeatureColumn::new(
            "neg",
            Transform::Log1p,
            vec![Some(-5.0), Some(3.0), Some(0.0), Some(1.0)],
        ),
        FeatureColumn::new(
            "ratio",
            Transform::Logit,
            vec![Some(1.5), Some(-0.2), Some(0.5), Some(0.5)],
        ),
    ];
    for method in [Method::Gmm, Method::KMeans, Method::Hdbscan] {
        for k in [None, Some(2), Some(5)] {
            let r = cluster_stratum(
                &odd,
                &ClusterParams {
                    method,
                    k,
                    ..p.clone()
                },
            );
            if let Ok(r) = r {
                assert_eq!(r.labels.len(), 4);
                assert_eq!(r.clusters.len(), r.k);
            }
        }
    }
    // Few distinct values in many rows.
    let steps: Vec<FeatureColumn> = (0..4)
        .map(|j| {
            FeatureColumn::new(
                format!("s{j}"),
                Transform::None,
                (0..60).map(|i| Some(((i + j) % 2) as f64)).collect(),
            )
        })
        .collect();
    for method in [Method::Gmm, Method::KMeans, Method::Hdbscan] {
        let r = cluster_stratum(
            &steps,
            &ClusterParams {
                method,
                ..p.clone()
            },
        )
        .unwrap();
        assert_eq!(r.labels.len(), 60);
    }
}

#[test]
fn invalid_params_are_rejected() {
    let (cols, _) = generate(50, 4, &[], 1);
    for p in [
        ClusterParams {
            k_max: 0,
            ..params(0)
        },
        ClusterParams {
            k: Some(0),
            ..params(0)
        },
        ClusterParams {
            min_share: 0.7,
            ..params(0)
        },
        ClusterParams {
            covariances: vec![],
            ..params(0)
        },
    ] {
        assert!(matches!(
            cluster_stratum(&cols, &p),
            Err(ClusterError::InvalidParams(_))
        ));
    }
}

/// The alternatives run end to end: k-means finds a large, well separated
/// arm; HDBSCAN may leave noise but labels every row.
#[test]
fn kmeans_and_hdbscan_alternatives() {
    let big = Arm {
        share: 0.3,
        shifts: (0..8).map(|j| (j, 3.0)).collect(),
    };
    let (cols, truth) = generate(600, 10, &[big], 11);
    let km = cluster_stratum(
        &cols,
        &ClusterParams {
            method: Method::KMeans,
            bootstrap: 5,
            ..params(1)
        },
    )
    .unwrap();
    assert_eq!(km.method, Method::KMeans);
    assert!(km.selection.iter().all(|s| s.covariance.is_none()));
    assert!(km.k >= 2, "k-means k = {}: {:?}", km.k, km.notes);
    assert!(ari(&labels_of(&km), &truth_labels(&truth)) > 0.8);
    let hd = cluster_stratum(
        &cols,
        &ClusterParams {
            method: Method::Hdbscan,
            bootstrap: 3,
            ..params(1)
        },
    )
    .unwrap();
    assert_eq!(hd.labels.len(), 600);
    assert_eq!(hd.clusters.len(), hd.k);
    let fixed = cluster_stratum(
        &cols,
        &ClusterParams {
            k: Some(3),
            bootstrap: 3,
            ..params(1)
        },
    )
    .unwrap();
    assert_eq!(fixed.k, 3);
    assert_eq!(fixed.clusters.iter().filter(|c| c.is_reference).count(), 1);
    assert!(fixed.clusters.iter().all(|c| c.stability.is_some()));
}

#[test]
fn ari_and_cliffs_delta_basics() {
    assert!((ari(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
    assert!(ari(&[0, 1, 0, 1], &[0, 0, 1, 1]) < 0.0);
    // Ranks of [1, 2, 3, 4]: group {3, 4} dominates {1, 2} completely.
    let r = select::midranks(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(select::cliffs_delta_from_ranks(r[2] + r[3], 2, 2), 1.0);
    let tied = select::midranks(&[5.0, 5.0, 5.0, 5.0]);
    assert_eq!(
        select::cliffs_delta_from_ranks(tied[0] + tied[1], 2, 2),
        0.0
    );
    assert!((preprocess::inv_norm_cdf(0.975) - 1.959_964).abs() < 1e-5);
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
            let f = gmm::fit(&prep.x, k, cov, 5, None);
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

#[test]
#[ignore]
fn time_null() {
    let (cols, _) = generate(1000, 25, &[], 100);
    let prep = preprocess::prepare(&cols, 0, true);
    for cov in [Covariance::Tied, Covariance::Diagonal] {
        for k in 1..=6 {
            let t = std::time::Instant::now();
            let _ = gmm::fit(&prep.x, k, cov, 5, None);
            eprintln!("{cov} k={k} {:.1?}", t.elapsed());
        }
    }
    let t = std::time::Instant::now();
    for s in 0..10 {
        let _ = gmm::kmeans_labels(&prep.x, 4, s, 1);
    }
    eprintln!("10 kmeans k=4: {:.1?}", t.elapsed());
}

#[test]
#[ignore]
fn diag_cross() {
    let a = Arm {
        share: 0.3,
        shifts: vec![(0, -2.5), (3, 2.5), (8, -2.5), (11, 2.5)],
    };
    let b = Arm {
        share: 0.4,
        shifts: vec![(1, 2.5), (6, 2.5), (13, -2.5), (18, 2.5)],
    };
    let (cols, truth) = generate(2000, 25, &[a, b], 300);
    let prep = preprocess::prepare(&cols, 0, true);
    let tl = truth_labels(&truth);
    let ta: Vec<usize> = truth.iter().map(|t| t[0] as usize).collect();
    let tb: Vec<usize> = truth.iter().map(|t| t[1] as usize).collect();
    let (l, _) = gmm::kmeans_labels(&prep.x, 2, 1, 5).unwrap();
    eprintln!(
        "kmeans2 raw ari A {:.3} B {:.3}",
        ari(&l, &ta),
        ari(&l, &tb)
    );
    let (l, _) = gmm::kmeans_labels(&gmm::whiten(&prep.x).unwrap(), 2, 1, 5).unwrap();
    eprintln!(
        "kmeans2 white ari A {:.3} B {:.3}",
        ari(&l, &ta),
        ari(&l, &tb)
    );
    for j in [0, 1, 3, 6] {
        let m1: f64 = (0..2000)
            .filter(|&i| ta[i] == 1)
            .map(|i| prep.x.row(i)[j])
            .sum::<f64>()
            / ta.iter().sum::<usize>() as f64;
        let m0: f64 = (0..2000)
            .filter(|&i| ta[i] == 0)
            .map(|i| prep.x.row(i)[j])
            .sum::<f64>()
            / (2000 - ta.iter().sum::<usize>()) as f64;
        eprintln!("feature {j}: A mean {m1:.2} vs {m0:.2}");
    }
    for k in 1..=6 {
        let f = gmm::fit(&prep.x, k, Covariance::Tied, 5, None).unwrap();
        let (l, _) = f.model.predict(&prep.x);
        let np = gmm::n_params(k, prep.x.d, Covariance::Tied);
        eprintln!(
            "tied k={k} bic={:.1} ari={:.3}",
            gmm::bic(f.loglik, np, prep.x.n),
            ari(&l, &tl)
        );
    }
}
