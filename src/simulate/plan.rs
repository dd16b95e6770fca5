//! The corpus plan: projects, and `claude` processes with their sessions.
//!
//! Planning is one cheap sequential pass on its own RNG stream. It fixes what
//! must be known before sessions are generated in parallel: which project,
//! model, Claude Code version and start time each process has, how many
//! sessions (linked by `/clear`) it runs, and the uniform draw used for sticky
//! arm assignment. Everything else is drawn inside the session, from the
//! session's own stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dist;
use super::spec::Resolved;
use super::text;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;

/// RNG stream reserved for the plan; sessions use `SESSION_STREAM_BASE + index`.
const PLAN_STREAM: u64 = 0;
const SESSION_STREAM_BASE: u64 = 1 << 32;

/// The RNG of the plan.
pub fn plan_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(PLAN_STREAM);
    rng
}

/// The RNG of session `index`: depends only on (seed, index), so sessions can
/// be generated in any order on any number of threads.
pub fn session_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SESSION_STREAM_BASE + index as u64);
    rng
}

/// A project: one working directory, hence one `projects/<slug>` folder.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub cwd: String,
    /// Folder name under `projects/`: the cwd with non-alphanumerics as `-`.
    pub dir: String,
    /// Relative source paths the tools touch.
    pub files: Vec<String>,
    /// The default branch name.
    pub main_branch: &'static str,
    /// Headless `claude -p` runs (one short session per process, opening
    /// with a queue `dequeue`), like CI bots and harnesses.
    pub headless: bool,
}

/// One `claude` process: consecutive sessions in one project, linked by `/clear`.
#[derive(Debug, Clone)]
pub struct Process {
    pub id: usize,
    /// Global index of its first session; its sessions are consecutive.
    pub first_session: usize,
    pub sessions: usize,
    pub project: usize,
    pub model: usize,
    pub version: usize,
    pub start_ms: i64,
    pub branch: String,
    /// Uniform draw for sticky arm assignment.
    pub u_arm: f64,
    /// Per-user pace: multiplies turns and think time (between-user spread).
    pub pace: f64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub projects: Vec<Project>,
    pub processes: Vec<Process>,
}

const PROJECT_NAMES: &[&str] = &[
    "api-server",
    "web-app",
    "data-pipeline",
    "cc-tools",
    "infra",
    "billing-service",
    "docs-site",
    "mobile-client",
    "ml-experiments",
    "cli",
    "auth-gateway",
    "search-indexer",
];
const USERS: &[&str] = &["alex", "sam", "jordan", "kim"];
const DIRS: &[&str] = &[
    "src", "src/api", "src/core", "src/util", "tests", "lib", "scripts", "src/db",
];
const EXTS: &[&str] = &["rs", "ts", "py", "go"];

/// The folder name Claude Code uses for a cwd: non-alphanumerics become `-`.
pub fn project_dir_name(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn make_projects(rng: &mut ChaCha8Rng, n: u32) -> Vec<Project> {
    (0..n as usize)
        .map(|i| {
            let base = PROJECT_NAMES[i % PROJECT_NAMES.len()];
            let name = if i < PROJECT_NAMES.len() {
                base.to_string()
            } else {
                format!("{base}-{}", i / PROJECT_NAMES.len() + 1)
            };
            // Every fifth project (when there are several) is a headless harness.
            let headless = n >= 4 && i % 5 == 4;
            let user = USERS[rng.gen_range(0..USERS.len())];
            let cwd = if headless {
                format!("/tmp/tmp{}", text::prefixed(rng, "", 8).to_lowercase())
            } else if rng.gen_bool(0.7) {
                format!("/Users/{user}/src/{name}")
            } else {
                format!("/home/{user}/work/{name}")
            };
            let ext = EXTS[rng.gen_range(0..EXTS.len())];
            let files = (0..rng.gen_range(12..40))
                .map(|_| {
                    format!(
                        "{}/{}.{}",
                        DIRS[rng.gen_range(0..DIRS.len())],
                        text::ident(rng),
                        ext
                    )
                })
                .collect();
            Project {
                dir: project_dir_name(&cwd),
                name,
                cwd,
                files,
                main_branch: if rng.gen_bool(0.8) { "main" } else { "master" },
                headless,
            }
        })
        .collect()
}

/// Start of a process: a day (weekends quieter) and a time of day (office
/// hours around 13:30 UTC, with a uniform tail).
fn start_time(rng: &mut ChaCha8Rng, r: &Resolved) -> i64 {
    let day_weights: Vec<f64> = (0..r.days)
        .map(|d| {
            // The default start is a Monday; days 5 and 6 of each week are weekend.
            let weekday = (d % 7) as u8;
            if weekday >= 5 {
                0.35
            } else {
                1.0
            }
        })
        .collect();
    let day = dist::weighted(rng, &day_weights) as i64;
    let hour = if rng.gen_bool(0.85) {
        let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
        (13.5 + 3.2 * z).clamp(0.0, 23.99)
    } else {
        rng.gen_range(0.0..24.0)
    };
    r.start_ms + day * DAY_MS + (hour * HOUR_MS) as i64 + rng.gen_range(0..60_000)
}

/// Version a process runs: usually the newest release out at its start,
/// sometimes an older one (users update late).
fn pick_version(rng: &mut ChaCha8Rng, r: &Resolved, at: i64) -> usize {
    let released = r.versions.iter().filter(|(_, t)| *t <= at).count();
    if released == 0 {
        return 0;
    }
    let latest = released - 1;
    let u: f64 = rng.gen();
    if u < 0.6 || latest == 0 {
        latest
    } else if u < 0.85 {
        latest - 1
    } else {
        rng.gen_range(0..latest)
    }
}

/// Build the plan for `r.sessions` sessions.
pub fn plan(r: &Resolved) -> Plan {
    let mut rng = plan_rng(r.seed);
    let projects = make_projects(&mut rng, r.projects);
    let project_weights: Vec<f64> = (0..projects.len())
        .map(|i| 1.0 / ((i + 1) as f64).powf(1.1))
        .collect();
    let model_weights: Vec<f64> = r.models.iter().map(|(_, w)| *w).collect();
    let mut processes = Vec::new();
    let mut next = 0usize;
    let p_more = 1.0 - 1.0 / r.sessions_per_process;
    while next < r.sessions {
        let project = dist::weighted(&mut rng, &project_weights);
        let mut n = 1usize;
        if !projects[project].headless {
            while n < 30 && dist::chance(&mut rng, p_more) {
                n += 1;
            }
        }
        let n = n.min(r.sessions - next);
        let start_ms = start_time(&mut rng, r);
        let model = dist::weighted(&mut rng, &model_weights);
        let version = pick_version(&mut rng, r, start_ms);
        let branch = if rng.gen_bool(0.6) {
            projects[project].main_branch.to_string()
        } else {
            format!("feat/{}", text::ident(&mut rng).replace('_', "-"))
        };
        processes.push(Process {
            id: processes.len(),
            first_session: next,
            sessions: n,
            project,
            model,
            version,
            start_ms,
            branch,
            u_arm: rng.gen(),
            pace: dist::lognormal(&mut rng, 1.0, 0.35),
        });
        next += n;
    }
    Plan {
        projects,
        processes,
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::{Overrides, Spec};
    use super::*;

    #[test]
    fn plan_covers_every_session_once() {
        let r = Spec::default()
            .resolve(Overrides {
                sessions: Some(500),
                ..Overrides::default()
            })
            .unwrap();
        let p = plan(&r);
        let total: usize = p.processes.iter().map(|x| x.sessions).sum();
        assert_eq!(total, 500);
        for w in p.processes.windows(2) {
            assert_eq!(w[0].first_session + w[0].sessions, w[1].first_session);
        }
        let mean = 500.0 / p.processes.len() as f64;
        assert!(mean > 1.2 && mean < 2.0, "{mean}");
        assert_eq!(project_dir_name("/Users/a.b/src/x_y"), "-Users-a-b-src-x-y");
    }
}
