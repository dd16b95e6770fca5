//! Cheap realistic-looking text and identifiers.
//!
//! Everything here is assembled from word lists and templates: the goal is
//! text whose *shape* matches real transcripts (lengths, markdown density,
//! apology phrases, line-numbered file reads, id formats) at a cost of a few
//! nanoseconds per byte, not text that reads well.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dist;

const WORDS: &[&str] = &[
    "the",
    "the",
    "the",
    "a",
    "a",
    "to",
    "to",
    "of",
    "of",
    "and",
    "and",
    "in",
    "in",
    "is",
    "is",
    "it",
    "that",
    "this",
    "for",
    "for",
    "with",
    "on",
    "we",
    "I",
    "should",
    "can",
    "will",
    "now",
    "then",
    "function",
    "module",
    "test",
    "tests",
    "file",
    "config",
    "error",
    "handler",
    "request",
    "response",
    "parser",
    "value",
    "type",
    "field",
    "struct",
    "method",
    "call",
    "return",
    "result",
    "option",
    "string",
    "buffer",
    "index",
    "query",
    "database",
    "schema",
    "migration",
    "cache",
    "token",
    "session",
    "user",
    "input",
    "output",
    "path",
    "directory",
    "import",
    "export",
    "build",
    "check",
    "update",
    "change",
    "fix",
    "bug",
    "issue",
    "case",
    "edge",
    "logic",
    "loop",
    "branch",
    "commit",
    "version",
    "dependency",
    "package",
    "interface",
    "component",
    "state",
    "props",
    "hook",
    "route",
    "endpoint",
    "client",
    "server",
    "timeout",
    "retry",
    "stream",
    "event",
    "queue",
    "worker",
    "thread",
    "lock",
    "async",
    "await",
    "closure",
    "iterator",
    "vector",
    "map",
    "key",
    "entry",
    "line",
    "column",
    "offset",
    "length",
    "count",
    "limit",
    "default",
    "format",
    "log",
    "warning",
    "message",
    "output",
    "compile",
    "lint",
    "coverage",
    "snapshot",
    "fixture",
    "mock",
    "assert",
    "expected",
    "actual",
    "current",
    "existing",
    "new",
    "missing",
    "unused",
    "nested",
    "correct",
    "simple",
    "small",
    "clear",
    "first",
    "next",
    "last",
    "both",
    "each",
    "all",
    "some",
    "only",
    "also",
    "still",
    "here",
    "there",
    "because",
    "so",
    "but",
    "if",
    "when",
    "after",
    "before",
    "instead",
    "already",
    "probably",
    "need",
    "look",
    "read",
    "see",
    "run",
    "add",
    "remove",
    "rename",
    "move",
    "keep",
    "make",
    "use",
    "handle",
];

const ADJECTIVES: &[&str] = &[
    "idempotent",
    "luminous",
    "giggly",
    "delegated",
    "quiet",
    "brave",
    "cosmic",
    "gentle",
    "swift",
    "humble",
    "jolly",
    "mellow",
    "nimble",
    "polished",
    "radiant",
    "sleepy",
    "tidy",
    "vivid",
    "witty",
    "zesty",
    "curious",
    "dapper",
    "eager",
    "fuzzy",
];
const GERUNDS: &[&str] = &[
    "sprouting",
    "weaving",
    "greeting",
    "marinating",
    "dancing",
    "humming",
    "juggling",
    "knitting",
    "painting",
    "roaming",
    "sailing",
    "tinkering",
    "wandering",
    "baking",
    "climbing",
    "drifting",
];
const NOUNS: &[&str] = &[
    "ocean", "kitten", "moler", "toast", "harbor", "meadow", "lantern", "otter", "pebble",
    "quokka", "river", "summit", "teapot", "walrus", "falcon", "garden", "island", "jigsaw",
    "koala", "nebula",
];

const IDENTS: &[&str] = &[
    "config",
    "parse_line",
    "session",
    "handler",
    "request",
    "items",
    "total",
    "cache",
    "index",
    "buffer",
    "result",
    "user_id",
    "payload",
    "options",
    "state",
    "client",
    "timeout",
    "retries",
    "path",
    "entries",
    "writer",
    "reader",
    "token",
    "count",
    "limit",
    "offset",
    "events",
    "store",
];
const TYPES: &[&str] = &[
    "String",
    "u64",
    "usize",
    "bool",
    "Vec<Entry>",
    "Option<&str>",
    "Result<()>",
    "HashMap<String, u32>",
    "Config",
    "Session",
    "i64",
    "Path",
];

const APOLOGIES: &[&str] = &[
    "You're absolutely right! ",
    "You're absolutely right - ",
    "You're absolutely right, I missed that. ",
    "I apologize for the confusion. ",
    "I apologize, that was my mistake. ",
    "Sorry about that. ",
    "My apologies - ",
];

const HEADINGS: &[&str] = &["## ", "### ", "**"];
const LANGS: &[&str] = &["rust", "bash", "typescript", "python", "json"];

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn push_chars(rng: &mut ChaCha8Rng, out: &mut String, alphabet: &[u8], n: usize) {
    out.reserve(n);
    for _ in 0..n {
        out.push(alphabet[rng.gen_range(0..alphabet.len())] as char);
    }
}

/// A random version-4 UUID, formatted.
pub fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut b: [u8; 16] = rng.gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 15) as usize] as char);
    }
    s
}

/// An id with a fixed prefix and base62 tail, like `msg_01...` or `toolu_01...`.
pub fn prefixed(rng: &mut ChaCha8Rng, prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_chars(rng, &mut s, B62, n);
    s
}

pub fn message_id(rng: &mut ChaCha8Rng) -> String {
    prefixed(rng, "msg_01", 22)
}

pub fn tool_use_id(rng: &mut ChaCha8Rng) -> String {
    prefixed(rng, "toolu_01", 22)
}

pub fn request_id(rng: &mut ChaCha8Rng) -> String {
    prefixed(rng, "req_011C", 20)
}

/// A thinking-block signature: base64, length growing with the thinking size
/// (real signatures run from ~200 to a few thousand characters).
pub fn signature(rng: &mut ChaCha8Rng, thinking_tokens: u32) -> String {
    let n = 180 + (thinking_tokens as usize / 3).min(1600);
    let n = n - n % 4;
    let mut s = String::with_capacity(n);
    s.push_str("Eo");
    push_chars(rng, &mut s, B64, n - 2);
    s
}

/// Opaque data of a `redacted_thinking` block.
pub fn redacted_data(rng: &mut ChaCha8Rng, thinking_tokens: u32) -> String {
    let n = 200 + (thinking_tokens as usize).min(4000);
    let mut s = String::with_capacity(n);
    s.push_str("EmwK");
    push_chars(rng, &mut s, B64, n - 4);
    s
}

/// A subagent id: `a` + 6 hex digits, as in 2.0.7x / 2.1.x files.
pub fn agent_id(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::with_capacity(7);
    s.push('a');
    push_chars(rng, &mut s, HEX, 6);
    s
}

/// A session slug like `idempotent-sprouting-ocean`.
pub fn slug(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}-{}-{}",
        pick(rng, ADJECTIVES),
        pick(rng, GERUNDS),
        pick(rng, NOUNS)
    )
}

/// Append one sentence of about `words` words.
fn sentence(rng: &mut ChaCha8Rng, out: &mut String, words: usize) {
    for i in 0..words {
        let w = pick(rng, WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(first) = c.next() {
                out.extend(first.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            if rng.gen_ratio(1, 14) {
                out.push('`');
                out.push_str(pick(rng, IDENTS));
                out.push('`');
            } else {
                out.push_str(w);
            }
        }
    }
    out.push_str(if rng.gen_ratio(1, 12) { ":" } else { "." });
}

/// Append prose (sentences, paragraphs every ~350 chars) until `out` has grown
/// by about `chars` characters.
pub fn prose(rng: &mut ChaCha8Rng, out: &mut String, chars: usize) {
    let target = out.len() + chars;
    let mut para = 0usize;
    while out.len() < target {
        if para > 0 {
            if para > 350 {
                out.push_str("\n\n");
                para = 0;
            } else {
                out.push(' ');
            }
        }
        let before = out.len();
        let words = rng
            .gen_range(5..18)
            .min(target.saturating_sub(out.len()) / 5 + 2);
        sentence(rng, out, words);
        para += out.len() - before;
    }
    // Cut the last sentence so lengths track the target closely (token counts
    // are derived from lengths, and effects are checked on them).
    if out.len() > target + 1 {
        let mut cut = target.max(1);
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.pop();
        out.push('.');
    }
}

/// Append one markdown element (a heading, a bullet, or a short fenced code
/// block) preceded by a blank line. Each counts as one element for
/// `markdown_density`.
fn markdown_element(rng: &mut ChaCha8Rng, out: &mut String) {
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
    match rng.gen_range(0..10) {
        0..=2 => {
            let h = pick(rng, HEADINGS);
            out.push_str(h);
            let mut title = String::new();
            {
                let n = rng.gen_range(2..5);
                sentence(rng, &mut title, n)
            };
            title.pop();
            out.push_str(&title);
            if h == "**" {
                out.push_str("**");
            }
            out.push('\n');
        }
        3..=7 => {
            out.push_str("- ");
            let mut item = String::new();
            {
                let n = rng.gen_range(3..8);
                sentence(rng, &mut item, n)
            };
            out.push_str(&item);
            out.push('\n');
        }
        _ => {
            out.push_str("```");
            out.push_str(pick(rng, LANGS));
            out.push('\n');
            for _ in 0..rng.gen_range(1..4) {
                code_line(rng, out);
                out.push('\n');
            }
            out.push_str("```\n");
        }
    }
}

/// Assistant text of about `chars` characters with `md_per_kchar` markdown
/// elements per 1,000 characters on average (the elements replace prose, so
/// the length does not depend on the density), optionally opening with an
/// apology phrase.
pub fn response_text(
    rng: &mut ChaCha8Rng,
    chars: usize,
    md_per_kchar: f64,
    apology: bool,
) -> String {
    let mut out = String::with_capacity(chars + 64);
    if apology {
        out.push_str(pick(rng, APOLOGIES));
    }
    let k = dist::poisson(rng, md_per_kchar * chars as f64 / 1000.0) as usize;
    if k == 0 {
        let n = chars.saturating_sub(out.len()).max(8);
        prose(rng, &mut out, n);
        return out;
    }
    // Elements first (to know their size), then prose around them.
    let mut elements = Vec::with_capacity(k);
    let mut el_chars = 0;
    for _ in 0..k {
        let mut e = String::new();
        markdown_element(rng, &mut e);
        el_chars += e.len() + 2;
        elements.push(e);
    }
    let prose_total = chars.saturating_sub(el_chars + out.len()).max(16);
    let chunk = prose_total / (k + 1);
    prose(rng, &mut out, chunk.max(8));
    for e in elements {
        out.push_str("\n\n");
        out.push_str(e.trim_end());
        if chunk > 8 {
            out.push_str("\n\n");
            prose(rng, &mut out, chunk);
        }
    }
    out
}

/// Thinking text of about `chars` characters (plain prose, first person).
pub fn thinking_text(rng: &mut ChaCha8Rng, chars: usize) -> String {
    let mut out = String::with_capacity(chars + 32);
    const OPENERS: &[&str] = &[
        "The user wants me to fix this. ",
        "Let me think about what is going on here. ",
        "I need to check the current code first. ",
        "Looking at the output, the change worked. ",
        "Now I should update the tests. ",
    ];
    let opener = pick(rng, OPENERS);
    if chars > 3 * opener.len() {
        out.push_str(opener);
    }
    let n = chars.saturating_sub(out.len()).max(4);
    prose(rng, &mut out, n);
    out
}

/// Append one line of plausible source code.
pub fn code_line(rng: &mut ChaCha8Rng, out: &mut String) {
    let a = pick(rng, IDENTS);
    let b = pick(rng, IDENTS);
    let t = pick(rng, TYPES);
    let indent = ["", "    ", "    ", "        ", "        ", "            "][rng.gen_range(0..6)];
    out.push_str(indent);
    match rng.gen_range(0..12) {
        0 => {
            out.push_str("fn ");
            out.push_str(a);
            out.push('(');
            out.push_str(b);
            out.push_str(": ");
            out.push_str(t);
            out.push_str(") -> ");
            out.push_str(pick(rng, TYPES));
            out.push_str(" {");
        }
        1 => {
            out.push_str("let ");
            out.push_str(a);
            out.push_str(" = ");
            out.push_str(b);
            out.push_str(".get(");
            out.push_str(pick(rng, IDENTS));
            out.push_str(")?;");
        }
        2 => {
            out.push_str("if ");
            out.push_str(a);
            out.push_str(".is_empty() {");
        }
        3 => out.push('}'),
        4 => {
            out.push_str("// ");
            let mut c = String::new();
            {
                let n = rng.gen_range(4..10);
                sentence(rng, &mut c, n)
            };
            out.push_str(&c);
        }
        5 => {
            out.push_str("return ");
            out.push_str(a);
            out.push(';');
        }
        6 => {
            out.push_str("pub struct ");
            let mut c = a.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
            out.push_str(" {");
        }
        7 => {
            out.push_str("pub ");
            out.push_str(a);
            out.push_str(": ");
            out.push_str(t);
            out.push(',');
        }
        8 => {}
        9 => {
            out.push_str("for ");
            out.push_str(a);
            out.push_str(" in ");
            out.push_str(b);
            out.push_str(".iter() {");
        }
        10 => {
            out.push_str(a);
            out.push('.');
            out.push_str(b);
            out.push_str(" += 1;");
        }
        _ => {
            out.push_str("self.");
            out.push_str(a);
            out.push_str(" = ");
            out.push_str(b);
            out.push_str(".clone();");
        }
    }
}

/// `n` lines of code, each prefixed like Claude Code's Read output
/// (`     1→...`), starting at line `first`.
pub fn numbered_code(rng: &mut ChaCha8Rng, first: usize, n: usize) -> (String, String) {
    let mut numbered = String::with_capacity(n * 48);
    let mut plain = String::with_capacity(n * 40);
    for i in 0..n {
        let start = plain.len();
        code_line(rng, &mut plain);
        let line = &plain[start..];
        numbered.push_str(&format!("{:>6}\u{2192}{}\n", first + i, line));
        plain.push('\n');
    }
    (numbered, plain)
}

/// A user prompt.
pub fn prompt(rng: &mut ChaCha8Rng, file: &str) -> String {
    const TEMPLATES: &[&str] = &[
        "Can you fix the failing test in {f}?",
        "Add a {w} option to {f} and update the tests",
        "Why does {f} return an error when the {w} is empty?",
        "Refactor {f} so the {w} logic lives in one place",
        "Run the tests and fix whatever fails",
        "Look at {f} and explain how the {w} works",
        "Please update the docs for the {w} change",
        "The build is broken after the last commit, can you check?",
        "Implement the {w} handler described in the issue",
        "ok, now commit this",
        "Continue",
        "yes go ahead",
        "That's not right, the {w} should come from {f}",
        "Can you make {f} faster? It's slow on large inputs",
    ];
    let t = pick(rng, TEMPLATES);
    let mut s = t.replace("{f}", file).replace("{w}", pick(rng, IDENTS));
    if rng.gen_ratio(1, 4) {
        s.push(' ');
        {
            let n = rng.gen_range(40..300);
            prose(rng, &mut s, n)
        };
    }
    s
}

/// A short phrase (bash description, todo item, task description).
pub fn phrase(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut s = String::new();
    sentence(rng, &mut s, words);
    s.pop();
    s
}

/// An identifier-like word.
pub fn ident(rng: &mut ChaCha8Rng) -> &'static str {
    pick(rng, IDENTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_have_real_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(message_id(&mut rng).starts_with("msg_01"));
        assert_eq!(tool_use_id(&mut rng).len(), 30);
        assert_eq!(agent_id(&mut rng).len(), 7);
        assert_eq!(slug(&mut rng).split('-').count(), 3);
    }

    #[test]
    fn text_lengths_follow_targets() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for target in [50usize, 400, 3000] {
            let t = response_text(&mut rng, target, 4.0, false);
            let ratio = t.len() as f64 / target as f64;
            assert!(
                (0.6..1.6).contains(&ratio),
                "target {target} got {}",
                t.len()
            );
        }
        let t = response_text(&mut rng, 800, 0.0, true);
        assert!(!t.contains("```") && !t.contains("\n- "));
    }
}
