//! ARCHITECTURE.md's "What each crate may depend on" table, held against every crate's
//! Cargo.toml: a riposte crate's `[dependencies]` name only the riposte crates its line allows,
//! and none of the outside crates it must never know.

use std::collections::BTreeSet;
use std::path::Path;

/// (crate, riposte crates it may depend on, outside crates it must never name).
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "riposte-core",
        &[],
        &["ldap3", "sqlx", "axum", "reqwest", "clap", "utoipa"],
    ),
    ("riposte-events", &[], &["sqlx", "axum", "reqwest", "ldap3"]),
    (
        "riposte-detect",
        &["riposte-events"],
        &["sqlx", "axum", "reqwest", "ldap3"],
    ),
    (
        "riposte-ad",
        &["riposte-core"],
        &["sqlx", "axum", "reqwest", "clap"],
    ),
    (
        "riposte-entra",
        &["riposte-core"],
        &["sqlx", "axum", "ldap3", "clap"],
    ),
    (
        "riposte-oidc",
        &["riposte-core"],
        &["sqlx", "axum", "ldap3", "clap"],
    ),
    (
        "riposte-store",
        &["riposte-core"],
        &["sqlx", "axum", "reqwest", "ldap3"],
    ),
    (
        "riposte-store-sql",
        &["riposte-core", "riposte-store"],
        &["axum", "reqwest", "ldap3", "clap"],
    ),
    (
        "riposte-jobs",
        &["riposte-core", "riposte-store"],
        &["sqlx", "axum", "reqwest", "ldap3", "clap"],
    ),
    (
        "riposte-response",
        &[
            "riposte-core",
            "riposte-events",
            "riposte-detect",
            "riposte-store",
            "riposte-jobs",
        ],
        &["sqlx", "axum", "reqwest", "ldap3", "clap"],
    ),
    (
        "riposte-server",
        &[
            "riposte-core",
            "riposte-store",
            "riposte-jobs",
            "riposte-response",
            "riposte-oidc",
        ],
        &["sqlx", "reqwest", "ldap3", "clap"],
    ),
    ("riposte-graph-double", &[], &[]),
    ("riposte-testlab", &[], &[]),
];

fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let mut in_dependencies = false;
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.insert(name.to_string());
        }
    }
    names
}

#[test]
fn every_crate_depends_only_on_what_architecture_md_allows() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut listed = BTreeSet::new();
    for (name, may, never) in RULES {
        listed.insert(name.to_string());
        let deps = dependencies(&crates.join(name).join("Cargo.toml"));
        for dep in deps.iter().filter(|d| d.starts_with("riposte")) {
            assert!(
                may.contains(&dep.as_str()),
                "{name} depends on {dep}: ARCHITECTURE.md does not allow it"
            );
        }
        for dep in *never {
            assert!(
                !deps.contains(*dep),
                "{name} depends on {dep}, which it must never know"
            );
        }
    }
    // A new crate gets its line in ARCHITECTURE.md and here.
    for entry in std::fs::read_dir(&crates).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "riposte" {
            assert!(
                listed.contains(&name),
                "crates/{name} has no rule in ARCHITECTURE.md"
            );
        }
    }
}

#[test]
fn no_product_source_file_is_over_a_thousand_lines() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![crates];
    let mut long = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.components().any(|c| c.as_os_str() == "src")
            {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 1000 {
                    long.push(format!("{} ({lines} lines)", path.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these by responsibility: {long:?}");
}
