//! The crate layout as docs/design/architecture.md states it: the table
//! names exactly the workspace's crates, and the dependency rules below it
//! hold for every crate's normal (not dev) dependencies, transitively.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.parse().unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every workspace crate by name, with the workspace crates it depends on
/// for building (normal dependencies) and for its tests (dev-dependencies).
struct Workspace {
    normal: BTreeMap<String, BTreeSet<String>>,
    dev: BTreeMap<String, BTreeSet<String>>,
    /// Every dependency of the crate, workspace or not.
    external: BTreeMap<String, BTreeSet<String>>,
}

fn workspace() -> Workspace {
    let root = repo_root();
    let members = manifest(&root.join("Cargo.toml"))["workspace"]["members"].as_array().cloned().unwrap_or_default();
    let mut manifests = Vec::new();
    for member in members {
        let pattern = member.as_str().expect("members are strings");
        match pattern.strip_suffix("/*") {
            Some(folder) => {
                for entry in std::fs::read_dir(root.join(folder)).expect("members folder") {
                    let path = entry.expect("folder entry").path().join("Cargo.toml");
                    if path.exists() {
                        manifests.push(path);
                    }
                }
            }
            None => manifests.push(root.join(pattern).join("Cargo.toml")),
        }
    }
    let parsed: Vec<(String, toml::Table)> = manifests
        .iter()
        .map(|path| {
            let table = manifest(path);
            let name = table["package"]["name"].as_str().expect("package name").to_owned();
            (name, table)
        })
        .collect();
    let names: BTreeSet<String> = parsed.iter().map(|(name, _)| name.clone()).collect();
    let section = |table: &toml::Table, key: &str| -> BTreeSet<String> {
        table.get(key).and_then(toml::Value::as_table).map(|deps| deps.keys().cloned().collect()).unwrap_or_default()
    };
    let mut workspace = Workspace { normal: BTreeMap::new(), dev: BTreeMap::new(), external: BTreeMap::new() };
    for (name, table) in &parsed {
        let normal = section(table, "dependencies");
        workspace.normal.insert(name.clone(), normal.intersection(&names).cloned().collect());
        workspace.dev.insert(name.clone(), section(table, "dev-dependencies").intersection(&names).cloned().collect());
        workspace.external.insert(name.clone(), normal);
    }
    workspace
}

impl Workspace {
    /// Every workspace crate `name` needs to build, through any path.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut next = vec![name.to_owned()];
        while let Some(current) = next.pop() {
            for dependency in self.normal.get(&current).into_iter().flatten() {
                if seen.insert(dependency.clone()) {
                    next.push(dependency.clone());
                }
            }
        }
        seen
    }
}

/// The crate names in the first column of the table under "## Crates".
fn documented_crates() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("docs/design/architecture.md")).expect("architecture.md");
    let section = text.split("## Crates").nth(1).expect("a Crates section").split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn the_documented_crates_are_the_workspace_members() {
    let members: BTreeSet<String> = workspace().normal.keys().cloned().collect();
    let documented = documented_crates();
    assert_eq!(documented, members, "docs/design/architecture.md's crate table and the workspace differ");
}

#[test]
fn protocol_front_ends_stand_side_by_side() {
    let workspace = workspace();
    let protocols = ["rtmp", "rtsp", "cameras", "origin"];
    for protocol in protocols {
        let needs = workspace.closure(protocol);
        for other in protocols.iter().filter(|other| **other != protocol) {
            assert!(!needs.contains(*other), "{protocol} depends on {other}");
        }
    }
    assert!(!workspace.closure("rtsp").contains("rtmp"), "the RTSP server depends on the RTMP crate");
}

#[test]
fn only_the_binary_depends_on_the_http_api() {
    let workspace = workspace();
    for (name, _) in workspace.normal.iter().filter(|(name, _)| *name != "server" && *name != "api") {
        assert!(!workspace.closure(name).contains("api"), "{name} depends on api; use catalog");
    }
}

#[test]
fn media_is_sans_io() {
    let workspace = workspace();
    assert!(workspace.normal["media"].is_empty(), "media depends on {:?}", workspace.normal["media"]);
    assert!(!workspace.external["media"].contains("tokio"), "media depends on tokio");
}

#[test]
fn the_test_kit_is_for_tests_only() {
    let workspace = workspace();
    for (name, dependencies) in &workspace.normal {
        assert!(!dependencies.contains("testkit"), "{name} depends on testkit outside its tests");
    }
    assert!(workspace.dev.values().any(|dev| dev.contains("testkit")), "no crate's tests use the test kit");
}
