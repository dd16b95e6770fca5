//! Text renderings of `mechanisms`: a terminal report and its Markdown twin.

use std::io::{self, Write};

use crate::analysis::mechanisms::{p_text, Mechanism};

fn figure(m: &Mechanism) -> String {
    let Some(v) = m.figure else {
        return "-".into();
    };
    let mut s = format!("{} = {v:.3}", m.figure_label);
    if let Some([lo, hi]) = m.interval {
        s.push_str(&format!(" (95% CI {lo:.3} to {hi:.3})"));
    }
    if let Some(p) = m.p_value {
        s.push_str(&format!(", {}", p_text(p)));
    }
    s
}

/// One block per mechanism: verdict, claim, test, figure, evidence.
pub fn write_table(out: &mut impl Write, sessions: usize, ms: &[Mechanism]) -> io::Result<()> {
    writeln!(out, "{sessions} sessions\n")?;
    for m in ms {
        writeln!(
            out,
            "{}. {}: {}",
            m.id,
            m.name,
            m.verdict.as_str().to_uppercase()
        )?;
        writeln!(out, "   claim:    {}", m.claim)?;
        writeln!(out, "   test:     {}", m.test)?;
        writeln!(out, "   figure:   {}", figure(m))?;
        for e in &m.evidence {
            writeln!(out, "   - {e}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The same as Markdown: a summary table, then one section per mechanism.
pub fn write_markdown(out: &mut impl Write, sessions: usize, ms: &[Mechanism]) -> io::Result<()> {
    writeln!(out, "# Mechanisms\n\n{sessions} sessions.\n")?;
    writeln!(
        out,
        "| # | mechanism | verdict | figure |\n|---|---|---|---|"
    )?;
    for m in ms {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            m.id,
            m.name,
            m.verdict.as_str(),
            figure(m).replace('|', "\\|")
        )?;
    }
    for m in ms {
        writeln!(out, "\n## {}. {}: {}\n", m.id, m.name, m.verdict.as_str())?;
        writeln!(
            out,
            "**Claim.** {}\n\n**Test.** {}\n\n**Figure.** {}\n",
            m.claim,
            m.test,
            figure(m)
        )?;
        for e in &m.evidence {
            writeln!(out, "- {e}")?;
        }
    }
    Ok(())
}
