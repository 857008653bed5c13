//! The systemd units in `deploy/systemd/`: `systemd-analyze verify` finds nothing to say about
//! them, `systemd-analyze security` scores each "OK" (exposure ≤ 2.0 of 10), the command line
//! each starts is one the binary accepts, and `systemd-sysusers` makes the node's user. Checked offline, against a root made for the test (this
//! machine's systemd units, our binary where the units expect it, Debian's coturn unit with our
//! drop-in): nothing is installed or started.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;

/// The most exposure `systemd-analyze security` may report for a unit (its "OK" band).
const MOST_EXPOSURE: f64 = 2.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A root directory holding what the units refer to: systemd's own units (for the targets they
/// name), `/usr/local/bin/p2pos`, `/usr/bin/turnserver` and Debian's `coturn.service`, and ours.
fn root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| root.path().join(p);
    for dir in ["usr/lib/systemd", "usr/local/bin", "usr/bin", "etc/systemd/system/coturn.service.d"] {
        std::fs::create_dir_all(at(dir)).unwrap();
    }
    let (ok, text) = run(Command::new("cp").arg("-a").arg("/usr/lib/systemd/system").arg(at("usr/lib/systemd/")));
    assert!(ok, "systemd's units (the `systemd` package): {text}");
    std::fs::copy(env!("CARGO_BIN_EXE_p2pos"), at("usr/local/bin/p2pos")).unwrap();
    std::fs::copy("/usr/bin/turnserver", at("usr/bin/turnserver")).expect("coturn (installed by make test)");
    let units = repo().join("deploy/systemd");
    for unit in ["p2pos-node.service", "p2pos-hub.service"] {
        std::fs::copy(units.join(unit), at("etc/systemd/system").join(unit)).unwrap();
    }
    std::fs::copy(units.join("coturn.service.d/p2pos.conf"), at("etc/systemd/system/coturn.service.d/p2pos.conf"))
        .unwrap();
    root
}

/// "→ Overall exposure level for p2pos-node.service: 1.1 OK 🙂" → 1.1
fn exposure(report: &str) -> f64 {
    let line = report.lines().find(|l| l.contains("Overall exposure level")).expect("an overall exposure line");
    let after = line.rsplit_once(": ").expect("a score after the colon").1;
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_systemd_units_verify_clean_and_score_ok() {
    let root = root();
    let root_arg = format!("--root={}", root.path().display());
    for unit in ["p2pos-node.service", "p2pos-hub.service", "coturn.service"] {
        let (ok, text) = run(Command::new("systemd-analyze").args(["verify", &root_arg, unit]));
        assert!(ok && text.trim().is_empty(), "systemd-analyze verify {unit}:\n{text}");
        let (ok, report) = run(Command::new("systemd-analyze").args(["security", "--offline=true", &root_arg, unit]));
        assert!(ok, "systemd-analyze security {unit}:\n{report}");
        let score = exposure(&report);
        println!("{unit}: exposure {score}");
        assert!(score <= MOST_EXPOSURE, "{unit}: exposure {score} > {MOST_EXPOSURE}:\n{report}");
    }
}

#[test]
fn the_units_start_command_lines_the_binary_accepts() {
    for unit in ["p2pos-node.service", "p2pos-hub.service"] {
        let text = std::fs::read_to_string(repo().join("deploy/systemd").join(unit)).unwrap();
        let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
        let mut words = exec.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/p2pos"), "{unit}");
        // systemd sets STATE_DIRECTORY; `--help` last: clap refuses an unknown flag before it.
        let args: Vec<&str> =
            words.map(|w| if w == "${STATE_DIRECTORY}" { "/var/lib/p2pos-node" } else { w }).collect();
        let (ok, text) = run(Command::new(env!("CARGO_BIN_EXE_p2pos")).args(&args).arg("--help"));
        assert!(ok, "{unit}: p2pos {}: {text}", args.join(" "));
    }
}

#[test]
fn sysusers_makes_the_nodes_user() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let sysusers = repo().join("deploy/systemd/p2pos.sysusers");
    let (ok, text) =
        run(Command::new("systemd-sysusers").arg(format!("--root={}", root.path().display())).arg(&sysusers));
    assert!(ok, "systemd-sysusers: {text}");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user = passwd.lines().find(|l| l.starts_with("p2pos:")).expect("a p2pos user");
    assert!(user.ends_with(":/var/lib/p2pos-node:/usr/sbin/nologin"), "{user}");
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/p2pos-node.service")).unwrap();
    assert!(unit.contains("\nUser=p2pos\n") && unit.contains("\nStateDirectory=p2pos-node\n"), "the unit runs as it");
}
