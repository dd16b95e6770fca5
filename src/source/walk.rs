//! Finding log files under the paths the user gave.
//!
//! Directories are walked recursively, hidden ones included and no ignore
//! files honoured (transcripts live under `~/.claude`). Symlinks are followed
//! with loop detection, and a file reached twice (through two links, or two
//! overlapping arguments) is read once, under its canonical path.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// A log file to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Canonical path: the file's identity in the store.
    pub path: PathBuf,
    /// Project name: the directory under `projects/`, else the parent directory.
    pub project: String,
}

/// Something the walk could not read; reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkWarning {
    pub path: PathBuf,
    pub reason: String,
}

/// All `.jsonl` files under `roots` (a root may itself be a file, of any name).
pub fn find_log_files(roots: &[PathBuf]) -> (Vec<FoundFile>, Vec<WalkWarning>) {
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        let walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_path_buf();
                    let reason = if err.loop_ancestor().is_some() {
                        "symlink loop, not followed".to_owned()
                    } else {
                        err.io_error()
                            .map(|io| io.to_string())
                            .unwrap_or_else(|| err.to_string())
                    };
                    warnings.push(WalkWarning { path, reason });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let is_root_file = entry.depth() == 0;
            let is_jsonl = entry.path().extension().is_some_and(|ext| ext == "jsonl");
            if !is_root_file && !is_jsonl {
                continue;
            }
            let canonical = match std::fs::canonicalize(entry.path()) {
                Ok(path) => path,
                Err(err) => {
                    warnings.push(WalkWarning {
                        path: entry.path().to_path_buf(),
                        reason: err.to_string(),
                    });
                    continue;
                }
            };
            if seen.insert(canonical.clone()) {
                files.push(FoundFile {
                    project: project_of(entry.path()),
                    path: canonical,
                });
            }
        }
    }
    (files, warnings)
}

/// The project a transcript belongs to, as Claude Code names it: the
/// directory right under `projects/` (e.g. `-Users-me-src-app`). Subagent
/// files (`<slug>/<sessionId>/subagents/agent-x.jsonl`) resolve to `<slug>`.
pub fn project_of(path: &Path) -> String {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    if let Some(i) = parts.iter().rposition(|p| *p == "projects") {
        if i + 2 < parts.len() {
            return parts[i + 1].to_owned();
        }
    }
    let dirs = &parts[..parts.len().saturating_sub(1)];
    match dirs {
        [.., slug, _session, "subagents"] => (*slug).to_owned(),
        [.., parent] => (*parent).to_owned(),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_is_the_directory_under_projects() {
        assert_eq!(
            project_of(Path::new("/h/.claude/projects/-Users-me-app/abc.jsonl")),
            "-Users-me-app"
        );
        assert_eq!(
            project_of(Path::new(
                "/h/.claude/projects/-Users-me-app/abc/subagents/agent-1.jsonl"
            )),
            "-Users-me-app"
        );
        assert_eq!(
            project_of(Path::new("/tmp/logs/slug/abc/subagents/agent-1.jsonl")),
            "slug"
        );
        assert_eq!(project_of(Path::new("/tmp/logs/run.jsonl")), "logs");
    }
}
