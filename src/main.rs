//! cc-fingerprint: see `lib.rs` and docs/ARCHITECTURE.md.
fn main() -> std::process::ExitCode {
    cc_fingerprint::cli::main()
}
