//! The PHP contract is written down three times: the signatures in
//! `ext/ephpm_kv.stub.php` (which `ext/tests/stub.phpt` checks against the
//! loaded extension), the contract in `docs/api.md`, and the README's
//! function table. They must list the same functions.

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every `ephpm_kv_<name>` in `text` that is followed by `(` or a backtick.
fn function_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("ephpm_kv_") {
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if matches!(tail[len..].chars().next(), Some('(' | '`')) {
            names.insert(tail[..len].to_string());
        }
        rest = &tail[len..];
    }
    names
}

/// The first cells of a markdown section's table rows.
fn table_first_cells<'a>(markdown: &'a str, section_starts: &str) -> Vec<&'a str> {
    let start = markdown
        .find(section_starts)
        .unwrap_or_else(|| panic!("no section {section_starts:?}"));
    let section = &markdown[start + section_starts.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split(" | ").next().unwrap_or(""))
        .collect()
}

fn documented(markdown: &str, sections: &[&str]) -> BTreeSet<String> {
    sections
        .iter()
        .flat_map(|s| table_first_cells(markdown, s))
        .flat_map(function_names)
        .collect()
}

#[test]
fn stub_docs_and_readme_list_the_same_functions() {
    let stub: BTreeSet<String> = read("ext/ephpm_kv.stub.php")
        .lines()
        .filter_map(|l| l.strip_prefix("function "))
        .flat_map(function_names)
        .collect();
    assert!(stub.len() >= 15, "stub functions: {stub:?}");
    let docs = documented(
        &read("docs/api.md"),
        &["## Functions ePHPm has", "## Functions this project adds"],
    );
    let readme = documented(&read("README.md"), &["## Functions"]);
    assert_eq!(docs, stub, "docs/api.md against the stub");
    assert_eq!(readme, stub, "the README's function table against the stub");
}

#[test]
fn the_code_points_at_the_contract_in_the_repository() {
    for file in ["ext/src/lib.rs", "README.md"] {
        let text = read(file);
        assert!(text.contains("docs/api.md"), "{file} names docs/api.md");
        assert!(
            !text.contains("shared/API.md"),
            "{file} names shared/API.md"
        );
    }
}
