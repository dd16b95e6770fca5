//! Built-in scenarios: specs for the common test cases, so that a demo or a
//! benchmark is one command. Windows are placed relative to the simulated
//! period (`days`), so a scenario plants something whatever `--days` is.

use chrono::{Duration, SecondsFormat};

use super::spec::{parse_instant, Arm, Effects, Regression, Spec, DEFAULT_START};

/// Names of the built-in scenarios, in the order `--help` lists them.
pub const NAMES: [&str; 5] = ["null", "two-arms", "staggered", "regression", "restarts"];

/// The date `day` days after the default start, as `YYYY-MM-DDT00:00:00Z`.
fn day(d: u32) -> String {
    let start = parse_instant(DEFAULT_START).unwrap_or_default();
    let t = chrono::DateTime::from_timestamp_millis(start).unwrap_or_default()
        + Duration::days(i64::from(d));
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The built-in scenario `name` for a period of `days` days, or None.
pub fn builtin(name: &str, days: u32) -> Option<Spec> {
    let days = days.max(1);
    let mut spec = Spec {
        name: Some(name.to_string()),
        ..Spec::default()
    };
    match name {
        "null" => {
            spec.description = Some(
                "No arms and no regression: every difference is noise (the false-alarm test)."
                    .into(),
            );
        }
        "two-arms" => {
            spec.description = Some(
                "One hidden 10% arm inside Opus 4.5: more parallel tool calls, summarized thinking, terser text."
                    .into(),
            );
            spec.arms.push(Arm {
                name: "opus-parallel-summarized".into(),
                prevalence: 0.10,
                models: Some(vec!["claude-opus-4-5-20251101".into()]),
                versions: None,
                from: None,
                until: None,
                effects: Effects {
                    parallel_tools: Some(1.8),
                    thinking_visible: Some(0.15),
                    text_tokens: Some(0.7),
                    ..Effects::default()
                },
            });
        }
        "staggered" => {
            spec.description = Some(
                "Two experiments rolled out to different slices on different days, then live at once: \
                 thinking display on Opus from day days/4 (thinking hidden, longer, slower streaming), \
                 message queuing on Sonnet with Claude Code 2.1 from day days/2 (more queued prompts, \
                 slower first responses, with 1h caching and longer, markdown-heavier answers)."
                    .into(),
            );
            spec.arms.push(Arm {
                name: "opus-hidden-thinking".into(),
                prevalence: 0.20,
                models: Some(vec!["claude-opus-4-5-20251101".into()]),
                versions: None,
                from: Some(day(days / 4)),
                until: None,
                effects: Effects {
                    thinking_visible: Some(0.0),
                    thinking_tokens: Some(1.4),
                    ms_per_output_token: Some(1.25),
                    ..Effects::default()
                },
            });
            spec.arms.push(Arm {
                name: "sonnet-message-queuing".into(),
                prevalence: 0.30,
                models: Some(vec!["claude-sonnet-4-5-20250929".into()]),
                versions: Some(vec!["2.1.*".into()]),
                from: Some(day(days / 2)),
                until: None,
                effects: Effects {
                    queue_rate: Some(8.0),
                    time_to_first_response: Some(3.0),
                    cache_1h_share: Some(1.0),
                    text_tokens: Some(1.8),
                    markdown: Some(2.5),
                    ..Effects::default()
                },
            });
        }
        "regression" => {
            spec.description = Some(
                "From day days/2 on, 30% of sessions degrade: more tool errors, apologies, interrupts and retries, slower first responses."
                    .into(),
            );
            spec.regressions.push(Regression {
                name: "degraded-serving".into(),
                start: day(days / 2),
                end: None,
                fraction: 0.30,
                models: None,
                versions: None,
                effects: Effects {
                    tool_error_rate: Some(2.5),
                    apology_rate: Some(4.0),
                    interrupt_rate: Some(2.0),
                    retry_rate: Some(3.0),
                    time_to_first_response: Some(1.6),
                    ..Effects::default()
                },
            });
        }
        "restarts" => {
            spec.description = Some(
                "A degraded arm (more tool errors, apologies, retries and interrupts, slower first responses, terser text) drawn for 30% \
                 of `claude` processes, sticky for the whole process: every session after a `/clear` keeps \
                 it, a restart (new process) redraws it. Set \"assignment\": \"per-session\" in a spec to \
                 redraw at every `/clear` instead."
                    .into(),
            );
            spec.sessions_per_process = Some(3.0);
            spec.arms.push(Arm {
                name: "degraded-serving".into(),
                prevalence: 0.30,
                models: None,
                versions: None,
                from: None,
                until: None,
                effects: Effects {
                    tool_error_rate: Some(5.0),
                    apology_rate: Some(8.0),
                    retry_rate: Some(6.0),
                    time_to_first_response: Some(3.0),
                    interrupt_rate: Some(3.0),
                    text_tokens: Some(0.6),
                    ..Effects::default()
                },
            });
        }
        _ => return None,
    }
    Some(spec)
}

#[cfg(test)]
mod tests {
    use super::super::spec::Overrides;
    use super::*;

    #[test]
    fn every_builtin_resolves() {
        for name in NAMES {
            for days in [1, 2, 7, 14, 60] {
                let spec = builtin(name, days).unwrap();
                let r = spec.resolve(Overrides {
                    days: Some(days),
                    ..Overrides::default()
                });
                assert!(r.is_ok(), "{name} days={days}: {r:?}");
            }
        }
        assert!(builtin("nope", 14).is_none());
    }
}
