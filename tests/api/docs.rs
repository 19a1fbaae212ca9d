//! The README and docs/: every relative link names a file or directory that exists, and
//! every anchor names a heading of its file — so moving a section cannot strand a link.
//! The README stays a front door; the manual lives in docs/.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md, then every docs/*.md in name order.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("a readable docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    let mut files = vec![Path::new(ROOT).join("README.md")];
    files.extend(docs);
    files
}

/// `(line number, line)` of every line outside fenced code blocks: a `#` there is a
/// comment, and `](` is code, not a link.
fn prose(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fenced = false;
    text.lines()
        .enumerate()
        .filter(move |(_, line)| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .map(|(index, line)| (index + 1, line))
}

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_` kept, a space
/// becomes `-`, anything else (backticks, punctuation) is dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings; a repeated one is numbered (`-1`, `-2`, …)
/// as GitHub numbers it.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    prose(text)
        .filter_map(|(_, line)| {
            let level = line.chars().take_while(|&c| c == '#').count();
            let title = line[level..].strip_prefix(' ')?;
            (1..=6)
                .contains(&level)
                .then(|| slug(title.trim_end_matches('#')))
        })
        .map(|anchor| {
            let count = seen.entry(anchor.clone()).or_insert(0);
            let numbered = if *count == 0 {
                anchor
            } else {
                format!("{anchor}-{count}")
            };
            *count += 1;
            numbered
        })
        .collect()
}

/// `(line number, target)` of every inline link `[text](target)` outside code blocks; a
/// title after the target (`[text](target "title")`) is left out.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let is_link = rest[..at].contains('[');
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            if is_link {
                let target = after[..end].split_whitespace().next().unwrap_or_default();
                found.push((number, target.to_owned()));
            }
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_link_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().expect("a document lives in a directory");
        let name = file
            .strip_prefix(ROOT)
            .unwrap_or(file.as_path())
            .display()
            .to_string();
        for (line, target) in links(&text) {
            if ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme))
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{name}:{line}: ({target}): no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if resolved.extension().is_none_or(|ext| ext != "md") {
                continue;
            }
            let headings = anchors(&std::fs::read_to_string(&resolved).unwrap());
            if !headings.iter().any(|heading| heading == anchor) {
                broken.push(format!(
                    "{name}:{line}: ({target}): no heading makes the anchor #{anchor}"
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser broken?"
    );
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_readme_stays_a_front_door_of_at_most_250_lines() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: move the detail to docs/ and link it"
    );
}

#[test]
fn a_heading_makes_the_anchor_github_makes() {
    assert_eq!(
        slug("Cookie mode for single-page apps"),
        "cookie-mode-for-single-page-apps"
    );
    assert_eq!(
        slug("Token errors, as a client sees them"),
        "token-errors-as-a-client-sees-them"
    );
    assert_eq!(
        slug("SQLite reads on the request's thread"),
        "sqlite-reads-on-the-requests-thread"
    );
    assert_eq!(
        slug("Memory — `SOCKETS=10000 cargo bench --bench socket_memory`"),
        "memory--sockets10000-cargo-bench---bench-socket_memory"
    );
    assert_eq!(
        anchors("# A\n```sh\n# not a heading\n```\n## A\n#1532 is no heading\n"),
        ["a", "a-1"]
    );
    assert_eq!(
        links("[a](x.md#b) and ![c](d.png \"title\")\n```\n[e](f)\n```\n"),
        [(1, "x.md#b".to_owned()), (1, "d.png".to_owned())]
    );
}
