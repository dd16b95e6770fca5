//! Scale benchmark of the clustering engine: 100,000 sessions x 40 features
//! with a planted 10% arm, default parameters (GMM, k = 1..6, 20 bootstraps).
//!
//! Run: `cargo run --release --example cluster_bench [rows] [features]`

use std::time::Instant;

use cc_fingerprint::analysis::cluster::synth::{ari, generate, Arm};
use cc_fingerprint::analysis::cluster::{cluster_stratum, ClusterParams};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let d: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let arm = Arm {
        share: 0.1,
        shifts: vec![(0, -2.5), (3, 2.5), (8, -2.5), (11, 2.5)],
    };
    let t = Instant::now();
    let (cols, truth) = generate(n, d, &[arm], 1);
    println!("generated {n} x {d} in {:.2} s", t.elapsed().as_secs_f64());
    for (name, arms) in [("null", false), ("one 10% arm", true)] {
        let cols = if arms {
            cols.clone()
        } else {
            generate(n, d, &[], 2).0
        };
        let t = Instant::now();
        let r = cluster_stratum(&cols, &ClusterParams::default()).expect("clusters");
        let secs = t.elapsed().as_secs_f64();
        let score = if arms {
            let truth: Vec<usize> = truth.iter().map(|m| m[0] as usize).collect();
            let labels: Vec<usize> = r.labels.iter().map(|l| l.unwrap_or(r.k)).collect();
            format!(", ARI {:.3}", ari(&labels, &truth))
        } else {
            String::new()
        };
        println!(
            "{name}: {secs:.2} s, k = {}, fitted on {} rows{score}",
            r.k, r.fit_rows
        );
    }
}
