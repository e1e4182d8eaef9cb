//! The layering check (`cargo xtask check-layers`): no crate may depend on a crate above it.
//!
//! The allowed edges between workspace crates are the data in [`LAYERS`]. The check reads
//! `cargo metadata --format-version 1 --no-deps` and looks at every dependency (normal, build and
//! dev, on every target) of every workspace member that names another workspace member. A member
//! that is missing from the table is an error too, so a new crate cannot skip the check.

use crate::util::{cargo, command_stdout};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a crate may depend on among the workspace's own crates.
#[derive(Debug, Clone, Copy)]
pub enum Allowed {
    /// Any workspace crate (top of the stack: the binary crate and the facade).
    Any,
    /// Only the listed edges.
    Only(&'static [Edge]),
}

/// One allowed edge to another workspace crate.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// The package name of the dependency.
    pub dep: &'static str,
    /// `Some(feature)`: the edge is allowed only as an optional normal dependency that is enabled
    /// by that feature alone, and not by default.
    pub behind_feature: Option<&'static str>,
}

const fn plain(dep: &'static str) -> Edge {
    Edge {
        dep,
        behind_feature: None,
    }
}

/// An edge allowed only behind a feature (the CUDA backend: tensor → cuda behind `cuda`).
const fn optional(dep: &'static str, feature: &'static str) -> Edge {
    Edge {
        dep,
        behind_feature: Some(feature),
    }
}

/// The layering table: every workspace member and what it may depend on, bottom to top.
/// A new crate must be added here (the check fails for an unknown member).
pub const LAYERS: &[(&str, Allowed)] = &[
    ("eigenformer-io", Allowed::Only(&[])),
    ("eigenformer-linalg", Allowed::Only(&[])),
    ("eigenformer-cuda", Allowed::Only(&[])),
    (
        "eigenformer-tensor",
        Allowed::Only(&[
            plain("eigenformer-linalg"),
            optional("eigenformer-cuda", "cuda"),
        ]),
    ),
    (
        "eigenformer-spectral",
        Allowed::Only(&[plain("eigenformer-linalg")]),
    ),
    (
        "eigenformer-model",
        Allowed::Only(&[plain("eigenformer-tensor")]),
    ),
    (
        "eigenformer-assets",
        Allowed::Only(&[plain("eigenformer-io")]),
    ),
    (
        "eigenformer-data",
        Allowed::Only(&[plain("eigenformer-assets"), plain("eigenformer-io")]),
    ),
    (
        "eigenformer-experiments",
        Allowed::Only(&[
            plain("eigenformer-io"),
            plain("eigenformer-assets"),
            plain("eigenformer-data"),
            plain("eigenformer-tensor"),
            plain("eigenformer-spectral"),
            plain("eigenformer-model"),
        ]),
    ),
    ("eigenformer-cli", Allowed::Any),
    // The Python package (PyO3 extension module): a top layer beside the binary.
    ("eigenformer-python", Allowed::Any),
    // xtask drives cargo and the binary; it links only the bottom io crate, for its writes.
    ("xtask", Allowed::Only(&[plain("eigenformer-io")])),
    ("eigenformer", Allowed::Any),
];

/// The part of `cargo metadata` output the check needs.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub workspace_members: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub name: String,
    pub id: String,
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub name: String,
    /// `null` for normal dependencies, `"dev"` or `"build"` otherwise.
    pub kind: Option<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub target: Option<String>,
}

impl Dependency {
    fn kind_name(&self) -> &str {
        self.kind.as_deref().unwrap_or("normal")
    }
}

/// One dependency edge between workspace crates that breaks the layering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub from: String,
    pub to: String,
    pub kind: String,
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({} dependency): {}",
            self.from, self.to, self.kind, self.reason
        )
    }
}

/// One row of the printed table.
#[derive(Debug)]
pub struct Row {
    pub krate: String,
    pub allowed: String,
    pub actual: Vec<String>,
    pub ok: bool,
}

/// The outcome of the check: the table, and every violation found (empty when the layering holds).
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    pub violations: Vec<Violation>,
}

fn describe_allowed(allowed: &Allowed) -> String {
    match allowed {
        Allowed::Any => "any".to_string(),
        Allowed::Only([]) => "none of ours".to_string(),
        Allowed::Only(edges) => edges
            .iter()
            .map(|e| match e.behind_feature {
                None => e.dep.to_string(),
                Some(f) => format!("{} (optional, feature `{f}`)", e.dep),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Does feature value `entry` (from `[features]`) enable the optional dependency `dep`?
/// `dep:x`, `x` and `x/f` do; `x?/f` does not.
fn entry_enables(entry: &str, dep: &str) -> bool {
    entry == dep
        || entry.strip_prefix("dep:") == Some(dep)
        || entry
            .strip_prefix(dep)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// All features reachable from `start` through feature-to-feature entries (including `start`).
fn feature_closure<'a>(
    features: &'a BTreeMap<String, Vec<String>>,
    start: &'a str,
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(f) = stack.pop() {
        if !seen.insert(f) {
            continue;
        }
        for entry in features.get(f).into_iter().flatten() {
            if features.contains_key(entry.as_str()) {
                stack.push(entry.as_str());
            }
        }
    }
    seen
}

/// Why an edge that the table allows only behind `feature` is not properly gated, if it is not.
fn gating_problem(pkg: &Package, dep: &Dependency, feature: &str) -> Option<String> {
    if dep.kind.is_some() {
        return Some(format!(
            "allowed only as an optional normal dependency behind feature `{feature}`, not as a {} dependency",
            dep.kind_name()
        ));
    }
    if !dep.optional {
        return Some(format!(
            "allowed only as an optional dependency behind feature `{feature}`, but it is not optional"
        ));
    }
    let enablers: BTreeSet<&str> = pkg
        .features
        .iter()
        .filter(|(_, entries)| entries.iter().any(|e| entry_enables(e, &dep.name)))
        .map(|(name, _)| name.as_str())
        .collect();
    if !enablers.contains(feature) {
        return Some(format!("feature `{feature}` does not enable it"));
    }
    let others: Vec<&str> = enablers.into_iter().filter(|f| *f != feature).collect();
    if !others.is_empty() {
        return Some(format!(
            "allowed only behind feature `{feature}`, but also enabled by {}",
            others
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if pkg.features.contains_key("default")
        && feature_closure(&pkg.features, "default").contains(feature)
    {
        return Some(format!("feature `{feature}` is enabled by default"));
    }
    None
}

/// Check `metadata` against the layering table `layers`.
pub fn check(metadata: &Metadata, layers: &[(&str, Allowed)]) -> Report {
    let members: BTreeSet<&str> = metadata
        .workspace_members
        .iter()
        .map(String::as_str)
        .collect();
    let packages: Vec<&Package> = metadata
        .packages
        .iter()
        .filter(|p| members.contains(p.id.as_str()))
        .collect();
    let ours: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let table: BTreeMap<&str, &Allowed> = layers.iter().map(|(k, a)| (*k, a)).collect();

    // Print in table order, then any unknown members.
    let mut ordered: Vec<&Package> = Vec::new();
    for (name, _) in layers {
        ordered.extend(packages.iter().filter(|p| p.name == *name));
    }
    ordered.extend(
        packages
            .iter()
            .filter(|p| !table.contains_key(p.name.as_str())),
    );

    let mut rows = Vec::new();
    let mut violations = Vec::new();
    for pkg in ordered {
        let internal: Vec<&Dependency> = pkg
            .dependencies
            .iter()
            .filter(|d| ours.contains(d.name.as_str()) && d.name != pkg.name)
            .collect();
        let actual: Vec<String> = internal
            .iter()
            .map(|d| {
                let mut s = d.name.clone();
                let mut notes = Vec::new();
                if d.kind.is_some() {
                    notes.push(d.kind_name().to_string());
                }
                if d.optional {
                    notes.push("optional".to_string());
                }
                if let Some(t) = &d.target {
                    notes.push(format!("target {t}"));
                }
                if !notes.is_empty() {
                    s.push_str(&format!(" ({})", notes.join(", ")));
                }
                s
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let before = violations.len();
        let allowed_text = match table.get(pkg.name.as_str()) {
            None => {
                violations.push(Violation {
                    from: pkg.name.clone(),
                    to: "-".to_string(),
                    kind: "-".to_string(),
                    reason: format!(
                        "`{}` is a workspace member that is not in the layering table: add it to the \
                         layering table (LAYERS in xtask/src/layers.rs)",
                        pkg.name
                    ),
                });
                "NOT IN TABLE".to_string()
            }
            Some(allowed) => {
                for dep in &internal {
                    let problem = match allowed {
                        Allowed::Any => None,
                        Allowed::Only(edges) => match edges.iter().find(|e| e.dep == dep.name) {
                            None => Some(format!(
                                "`{}` may not depend on `{}` (allowed: {}); move the code down a \
                                 layer or change the layering table",
                                pkg.name,
                                dep.name,
                                describe_allowed(allowed)
                            )),
                            Some(Edge {
                                behind_feature: None,
                                ..
                            }) => None,
                            Some(Edge {
                                behind_feature: Some(feature),
                                ..
                            }) => gating_problem(pkg, dep, feature),
                        },
                    };
                    if let Some(reason) = problem {
                        violations.push(Violation {
                            from: pkg.name.clone(),
                            to: dep.name.clone(),
                            kind: dep.kind_name().to_string(),
                            reason,
                        });
                    }
                }
                describe_allowed(allowed)
            }
        };
        rows.push(Row {
            krate: pkg.name.clone(),
            allowed: allowed_text,
            actual,
            ok: violations.len() == before,
        });
    }
    Report { rows, violations }
}

/// Render the table of crates, allowed and actual internal dependencies.
pub fn render(report: &Report) -> String {
    let headers = ["crate", "may depend on", "depends on", "ok"];
    // The dependency columns drop the common `eigenformer-` prefix to keep the table narrow.
    let short = |s: &str| s.replace("eigenformer-", "");
    let cells: Vec<[String; 4]> = report
        .rows
        .iter()
        .map(|r| {
            [
                r.krate.clone(),
                short(&r.allowed),
                if r.actual.is_empty() {
                    "-".to_string()
                } else {
                    short(&r.actual.join(", "))
                },
                if r.ok { "ok" } else { "VIOLATION" }.to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&headers.map(String::from));
    out.push_str(&line(&widths.map(|w| "-".repeat(w))));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// Read the workspace's metadata through cargo.
pub fn workspace_metadata() -> Result<Metadata> {
    let json = command_stdout(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    serde_json::from_str(&json).context("could not parse `cargo metadata` output")
}

pub fn run() -> Result<()> {
    let report = check(&workspace_metadata()?, LAYERS);
    println!("Layering check (rules: LAYERS in xtask/src/layers.rs; `eigenformer-` omitted in the dependency columns):\n");
    print!("{}", render(&report));
    println!();
    if report.violations.is_empty() {
        println!("layering ok: no crate depends on a crate above it");
        return Ok(());
    }
    for v in &report.violations {
        eprintln!("layering violation: {v}");
    }
    bail!(
        "layering check failed: {} violation(s), first: {}",
        report.violations.len(),
        report.violations[0]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table in the shape the checker must handle, including an edge allowed only behind a
    /// feature (a GPU crate under `cuda`), independent of today's workspace.
    const TEST_LAYERS: &[(&str, Allowed)] = &[
        ("eigenformer-tensor", Allowed::Only(&[])),
        ("eigenformer-spectral", Allowed::Only(&[])),
        (
            "eigenformer-cuda",
            Allowed::Only(&[plain("eigenformer-tensor")]),
        ),
        (
            "eigenformer-model",
            Allowed::Only(&[
                plain("eigenformer-tensor"),
                optional("eigenformer-cuda", "cuda"),
            ]),
        ),
        ("eigenformer-experiments", Allowed::Any),
        ("xtask", Allowed::Only(&[])),
        ("eigenformer", Allowed::Any),
    ];

    /// Hand-written metadata in the shape `cargo metadata --format-version 1 --no-deps` prints.
    fn metadata(model_deps: &str, model_features: &str, extra_member: bool) -> Metadata {
        let extra_pkg = if extra_member {
            r#",{"name": "eigenformer-new", "id": "path+file:///w/crates/new#0.1.0", "dependencies": [], "features": {}}"#
        } else {
            ""
        };
        let extra_id = if extra_member {
            r#","path+file:///w/crates/new#0.1.0""#
        } else {
            ""
        };
        let json = format!(
            r#"{{
  "packages": [
    {{"name": "eigenformer-tensor", "id": "path+file:///w/crates/tensor#0.1.0",
      "dependencies": [
        {{"name": "ndarray", "kind": null, "optional": false, "target": null}},
        {{"name": "proptest", "kind": "dev", "optional": false, "target": null}}
      ], "features": {{"cuda": []}}}},
    {{"name": "eigenformer-spectral", "id": "path+file:///w/crates/spectral#0.1.0",
      "dependencies": [], "features": {{}}}},
    {{"name": "eigenformer-cuda", "id": "path+file:///w/crates/cuda#0.1.0",
      "dependencies": [{{"name": "eigenformer-tensor", "kind": null, "optional": false, "target": null}}],
      "features": {{"cuda": ["eigenformer-tensor/cuda"]}}}},
    {{"name": "eigenformer-model", "id": "path+file:///w/crates/model#0.1.0",
      "dependencies": [{model_deps}], "features": {model_features}}},
    {{"name": "eigenformer-experiments", "id": "path+file:///w/crates/experiments#0.1.0",
      "dependencies": [
        {{"name": "eigenformer-model", "kind": null, "optional": false, "target": null}},
        {{"name": "eigenformer-cuda", "kind": null, "optional": false, "target": null}}
      ], "features": {{}}}},
    {{"name": "xtask", "id": "path+file:///w/xtask#0.1.0", "dependencies": [], "features": {{}}}},
    {{"name": "eigenformer", "id": "path+file:///w#eigenformer@0.1.0",
      "dependencies": [{{"name": "eigenformer-experiments", "kind": "dev", "optional": false, "target": null}}],
      "features": {{}}}},
    {{"name": "not-a-member", "id": "registry+https://x#not-a-member@1.0.0",
      "dependencies": [{{"name": "eigenformer-experiments", "kind": null, "optional": false, "target": null}}],
      "features": {{}}}}
    {extra_pkg}
  ],
  "workspace_members": [
    "path+file:///w/crates/tensor#0.1.0", "path+file:///w/crates/spectral#0.1.0",
    "path+file:///w/crates/cuda#0.1.0", "path+file:///w/crates/model#0.1.0",
    "path+file:///w/crates/experiments#0.1.0", "path+file:///w/xtask#0.1.0",
    "path+file:///w#eigenformer@0.1.0"{extra_id}
  ]
}}"#
        );
        serde_json::from_str(&json).expect("test metadata parses")
    }

    const TENSOR: &str =
        r#"{"name": "eigenformer-tensor", "kind": null, "optional": false, "target": null}"#;
    const CUDA_OPT: &str =
        r#"{"name": "eigenformer-cuda", "kind": null, "optional": true, "target": null}"#;
    const GATED: &str = r#"{"cuda": ["dep:eigenformer-cuda", "eigenformer-cuda/cuda"]}"#;

    fn violations(md: &Metadata) -> Vec<Violation> {
        check(md, TEST_LAYERS).violations
    }

    #[test]
    fn valid_workspace_passes() {
        let md = metadata(&format!("{TENSOR}, {CUDA_OPT}"), GATED, false);
        let report = check(&md, TEST_LAYERS);
        assert_eq!(report.violations, vec![]);
        assert_eq!(report.rows.len(), 7, "non-members are ignored");
        assert!(report.rows.iter().all(|r| r.ok));
        let table = render(&report);
        assert!(table.contains("eigenformer-model"));
        assert!(table.contains("tensor, cuda (optional, feature `cuda`)"));
    }

    #[test]
    fn upward_dependency_is_named() {
        let model_on_experiments = r#"{"name": "eigenformer-experiments", "kind": null, "optional": false, "target": null}"#;
        let md = metadata(&format!("{TENSOR}, {model_on_experiments}"), "{}", false);
        let v = violations(&md);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].from, "eigenformer-model");
        assert_eq!(v[0].to, "eigenformer-experiments");
        assert!(v[0]
            .to_string()
            .contains("eigenformer-model -> eigenformer-experiments"));
        assert!(!render(&check(&md, TEST_LAYERS)).is_empty());
    }

    #[test]
    fn dev_and_build_dependencies_count() {
        for kind in ["dev", "build"] {
            let dep = format!(
                r#"{{"name": "eigenformer-spectral", "kind": "{kind}", "optional": false, "target": null}}"#
            );
            let md = metadata(&format!("{TENSOR}, {dep}"), "{}", false);
            let v = violations(&md);
            assert_eq!(v.len(), 1, "{kind}: {v:?}");
            assert_eq!(v[0].kind, kind);
        }
    }

    #[test]
    fn cuda_must_be_optional_and_gated() {
        let cuda_plain =
            r#"{"name": "eigenformer-cuda", "kind": null, "optional": false, "target": null}"#;
        assert_eq!(
            violations(&metadata(&format!("{TENSOR}, {cuda_plain}"), "{}", false)).len(),
            1
        );

        // Optional, but enabled by a feature other than `cuda`.
        let other = r#"{"cuda": ["dep:eigenformer-cuda"], "gpu": ["eigenformer-cuda/cuda"]}"#;
        let v = violations(&metadata(&format!("{TENSOR}, {CUDA_OPT}"), other, false));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].reason.contains("`gpu`"), "{}", v[0].reason);

        // `x?/f` does not enable the dependency, so `cuda` here does not gate it.
        let weak = r#"{"cuda": ["eigenformer-cuda?/cuda"]}"#;
        assert_eq!(
            violations(&metadata(&format!("{TENSOR}, {CUDA_OPT}"), weak, false)).len(),
            1
        );

        // Enabled by default through `cuda`.
        let default_on =
            r#"{"default": ["std"], "std": ["cuda"], "cuda": ["dep:eigenformer-cuda"]}"#;
        let v = violations(&metadata(
            &format!("{TENSOR}, {CUDA_OPT}"),
            default_on,
            false,
        ));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].reason.contains("default"), "{}", v[0].reason);

        // As a dev-dependency it cannot be gated.
        let cuda_dev =
            r#"{"name": "eigenformer-cuda", "kind": "dev", "optional": false, "target": null}"#;
        assert_eq!(
            violations(&metadata(&format!("{TENSOR}, {cuda_dev}"), "{}", false)).len(),
            1
        );
    }

    #[test]
    fn linalg_is_below_tensor_and_spectral() {
        let row = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
        assert!(matches!(row("eigenformer-linalg"), Some(Allowed::Only([]))));
        for user in ["eigenformer-tensor", "eigenformer-spectral"] {
            match row(user) {
                Some(Allowed::Only(edges)) => assert!(
                    edges
                        .iter()
                        .any(|e| e.dep == "eigenformer-linalg" && e.behind_feature.is_none()),
                    "{user} may not use eigenformer-linalg"
                ),
                other => panic!("{user}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_member_is_an_error() {
        let md = metadata(&format!("{TENSOR}, {CUDA_OPT}"), GATED, true);
        let v = violations(&md);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].from, "eigenformer-new");
        assert!(v[0].reason.contains("add it to the layering table"));
    }

    #[test]
    fn table_matches_the_layering_rules() {
        let names: Vec<&str> = LAYERS.iter().map(|(n, _)| *n).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "duplicate crate in LAYERS");
        // Every allowed edge points at a crate listed earlier (lower) in the table.
        for (i, (name, allowed)) in LAYERS.iter().enumerate() {
            if let Allowed::Only(edges) = allowed {
                for e in *edges {
                    let j = names.iter().position(|n| *n == e.dep);
                    assert!(
                        j.is_some_and(|j| j < i),
                        "{name} -> {} is not downward",
                        e.dep
                    );
                }
            }
        }
    }
}
