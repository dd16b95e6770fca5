//! Synthetic Claude Code corpora with planted arms and regressions.
