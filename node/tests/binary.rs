//! The `kgnode` binary itself: its command line parses and reports errors with a non-zero exit.
//!
//! Building this test also makes `cargo test --workspace` build `target/<profile>/kgnode`,
//! which the integration tests in `tests/` start as a process (to kill it with SIGKILL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn help_lists_the_commands() {
    let output = Command::new(env!("CARGO_BIN_EXE_kgnode"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "token", "reindex", "index"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[test]
fn unreachable_database_is_a_clear_failure() {
    let output = Command::new(env!("CARGO_BIN_EXE_kgnode"))
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "migrate",
            "status",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("kgnode: "), "{stderr}");
}
