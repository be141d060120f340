//! One version for every package: the workspace's `[workspace.package] version` (this crate's
//! `CARGO_PKG_VERSION`). The Python package takes its version from its crate (maturin,
//! `dynamic = ["version"]`); the Node package states its own in `package.json` and its lock
//! file — they must agree, or `scripts/dist` would ship artifacts of different versions.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn every_crate_takes_the_workspace_version() {
    let root: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    assert_eq!(
        root["workspace"]["package"]["version"].as_str(),
        Some(VERSION)
    );
    for member in root["workspace"]["members"].as_array().unwrap() {
        let path = format!("{}/Cargo.toml", member.as_str().unwrap());
        let manifest: toml::Value = toml::from_str(&read(&path)).unwrap();
        assert_eq!(
            manifest["package"]["version"]
                .get("workspace")
                .and_then(|v| v.as_bool()),
            Some(true),
            "{path}: version must be `version.workspace = true`"
        );
    }
    // Path dependencies state the version crates.io will resolve (a crate that is never
    // published, the test kit, is only ever a dev-dependency and has none).
    for (name, dep) in root["workspace"]["dependencies"].as_table().unwrap() {
        let Some(path) = dep.get("path").and_then(|p| p.as_str()) else {
            continue;
        };
        let manifest: toml::Value = toml::from_str(&read(&format!("{path}/Cargo.toml"))).unwrap();
        let published = manifest["package"].get("publish") != Some(&toml::Value::Boolean(false));
        if published {
            assert_eq!(
                dep["version"].as_str(),
                Some(VERSION),
                "workspace dependency {name}"
            );
        }
    }
}

#[test]
fn the_python_package_takes_its_crates_version() {
    let pyproject: toml::Value = toml::from_str(&read("bindings/python/pyproject.toml")).unwrap();
    let project = &pyproject["project"];
    assert!(
        project.get("version").is_none(),
        "pyproject.toml must not state a version of its own"
    );
    let dynamic: Vec<&str> = project["dynamic"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        dynamic.contains(&"version"),
        "pyproject.toml: dynamic = [\"version\"]"
    );
}

#[test]
fn the_node_package_states_the_workspace_version() {
    let package = json("bindings/node/package.json");
    assert_eq!(package["version"], VERSION, "bindings/node/package.json");
    let lock = json("bindings/node/package-lock.json");
    assert_eq!(lock["version"], VERSION, "bindings/node/package-lock.json");
    assert_eq!(
        lock["packages"][""]["version"], VERSION,
        "bindings/node/package-lock.json"
    );
}
