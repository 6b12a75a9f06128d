//! The space-time diagram (`spacetime.svg`): a hunt's reproducer of a known bug shows the
//! violation's story, a run without faults still draws, `run --out` writes it, and the same
//! seed gives the same bytes.

mod common;

use common::{consim, Scratch};
use consim::runner::{self, RunReport, Scenario};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads a bundled scenario with `--set` overrides.
fn load(name: &str, set: &[(&str, &str)]) -> Box<dyn Scenario> {
    let path = root().join("scenarios").join(format!("{name}.toml"));
    let set: Vec<(String, String)> = set
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    runner::load(&path, &set).expect("a bundled scenario loads")
}

fn diagram(s: &dyn Scenario, r: &RunReport) -> String {
    consim::spacetime::diagram(s, r)
        .expect("the replay draws")
        .expect("a finished run has a diagram")
}

/// Panics unless every element of `svg` is closed in order: the SVG is well-formed XML as
/// far as its tags go (the drawing writes no comments, CDATA or processing instructions).
fn assert_tags_balance(svg: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("every tag ends");
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "a misplaced </{name}>");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().expect("a tag has a name"));
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "never closed: {open:?}");
}

/// The tooltips of the messages drawn with the highlight's halo.
fn highlighted_messages(svg: &str) -> Vec<&str> {
    svg.split("<g><title>")
        .filter(|g| g.contains(r##"stroke="#ffd92f""##))
        .map(|g| g.split("</title>").next().unwrap_or_default())
        .collect()
}

#[test]
fn a_hunt_reproducer_shows_the_violation() {
    let bug = consim::hunt::KNOWN_BUGS
        .iter()
        .find(|b| b.bug == "commit-before-log")
        .expect("2PC's known bug");
    let hunt = bug.hunt(&root(), 1..=40, 2).unwrap();
    let consim::hunt::Outcome::Found(found) = consim::hunt::hunt(&hunt, &|_| {}).unwrap().outcome
    else {
        panic!("the hunt finds commit-before-log in seeds 1..40");
    };
    let dir = Scratch::new("spacetime-hunt");
    consim::hunt::write(&dir, &found[0]).unwrap();
    let svg = std::fs::read_to_string(dir.join("spacetime.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.ends_with("</svg>\n"));
    assert_tags_balance(&svg);
    for node in ["coordinator", "db1", "db2", "client1", "client2"] {
        assert!(
            svg.contains(&format!(r#"text-anchor="middle">{node}</text>"#)),
            "no lane for {node}"
        );
    }
    for arrow in [
        "Prepare coordinator → db1",
        "Vote db2 → coordinator",
        "Commit coordinator → db1",
    ] {
        assert!(svg.contains(arrow), "no {arrow} arrow");
    }
    assert!(
        svg.contains("coordinator crashes at"),
        "the crash is not marked"
    );
    assert!(svg.contains("✗ atomicity:"), "the violation is not named");
    // The story, in the messages of the transaction the violation names: the coordinator's
    // Commit reaches db1, and db2, which never got it, is told to abort.
    let story = highlighted_messages(&svg);
    assert!(
        story
            .iter()
            .any(|m| m.contains("Commit coordinator → db1") && m.contains("delivered")),
        "{story:#?}"
    );
    assert!(
        story
            .iter()
            .any(|m| m.contains("Abort coordinator → db2") && m.contains("delivered")),
        "{story:#?}"
    );
}

#[test]
fn a_run_without_faults_still_draws() {
    let s = load("quorum-staleness", &[("duration", "2s")]);
    let r = s.run(s.common().seed, None).unwrap();
    assert!(r.episodes.is_empty(), "the story has no faults");
    let svg = diagram(s.as_ref(), &r);
    assert_tags_balance(&svg);
    assert!(
        svg.contains("a window around the start"),
        "the title says where"
    );
    assert!(!svg.contains("crashes at"));
    assert!(svg.matches("<polygon").count() > 100, "arrows are drawn");
}

#[test]
fn run_out_writes_the_diagram_with_its_partition() {
    let dir = Scratch::new("spacetime-run");
    let o = consim(&[
        "run",
        "scenarios/bank-transfer-2pc-partition.toml",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let svg =
        std::fs::read_to_string(Path::new(&*dir).join("bank-transfer-2pc-partition/spacetime.svg"))
            .unwrap();
    assert_tags_balance(&svg);
    assert!(svg.contains("partitioned: [[coordinator, client1, client2], [db1, db2]]"));
    assert!(
        svg.contains("lost as it was sent: partition"),
        "no message lost to the cut"
    );
}

#[test]
fn the_same_seed_draws_the_same_bytes() {
    let s = load("bank-transfer-2pc", &[]);
    let first = s.run(3, None).unwrap();
    let again = s.run(3, None).unwrap();
    let svg = diagram(s.as_ref(), &first);
    assert_eq!(svg, diagram(s.as_ref(), &again));
    assert_ne!(svg, diagram(s.as_ref(), &s.run(4, None).unwrap()));
}
