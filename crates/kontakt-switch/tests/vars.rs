#![allow(clippy::unwrap_used)]
//! `vars::dialplan` must match `dialplans/VARIABLES.md` and the dialplan XML, both ways:
//! every variable Kontakt reads is set by a dialplan and documented, and every `kontakt_*`
//! variable a dialplan sets is documented and known to Kontakt.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kontakt_switch::vars;

fn dialplans() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{} is missing or unreadable ({e}); kontakt-switch checks its channel-variable names \
             against the dialplans, so this file must exist",
            path.display()
        )
    })
}

/// Names of the table rows `| kontakt_... | set where | meaning |`, with "set where".
fn table() -> Vec<(String, String)> {
    let md = read(&dialplans().join("VARIABLES.md"));
    md.lines()
        .filter(|l| l.starts_with("| kontakt_"))
        .map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 3, "VARIABLES.md row must have 3 cells: {l}");
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect()
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            xml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.push(p);
        }
    }
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("-->").map_or("", |j| &rest[i + j + 3..]);
    }
    out.push_str(rest);
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let end = tag[i..].find('"')?;
    Some(&tag[i..i + end])
}

/// Every variable set by `set`/`export` actions (and anti-actions) and by directory
/// `<variable name=...>` entries, with the file that sets it.
fn set_in_xml() -> Vec<(String, String)> {
    let mut files = Vec::new();
    xml_files(&dialplans(), &mut files);
    assert!(!files.is_empty(), "no XML files under {}", dialplans().display());
    let mut found = Vec::new();
    for f in files {
        let text = strip_comments(&read(&f));
        let rel = f.strip_prefix(dialplans()).unwrap().display().to_string();
        for tag in text.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            let tag = format!(" {tag}");
            let name = if tag.starts_with(" action ") || tag.starts_with(" anti-action ") {
                match attr(&tag, "application") {
                    Some("set" | "export") => {
                        let data = attr(&tag, "data").unwrap_or_default();
                        let data = data.strip_prefix("nolocal:").unwrap_or(data);
                        data.split('=').next().map(str::to_owned)
                    }
                    Some("multiset") => {
                        for kv in attr(&tag, "data").unwrap_or_default().split_whitespace() {
                            if let Some((k, _)) = kv.split_once('=') {
                                found.push((k.to_owned(), rel.clone()));
                            }
                        }
                        None
                    }
                    _ => None,
                }
            } else if tag.starts_with(" variable ") {
                attr(&tag, "name").map(str::to_owned)
            } else {
                None
            };
            if let Some(n) = name {
                found.push((n, rel.clone()));
            }
        }
    }
    found
}

#[test]
fn variables_md_matches_vars_module() {
    let documented: BTreeSet<String> = table().into_iter().map(|(n, _)| n).collect();
    let known: BTreeSet<String> = vars::dialplan::ALL.iter().map(|s| (*s).to_owned()).collect();
    let undocumented: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "vars::dialplan and dialplans/VARIABLES.md differ:\n  read by Kontakt but not in \
         VARIABLES.md: {undocumented:?}\n  in VARIABLES.md but not in vars::dialplan: {unknown:?}"
    );
    assert_eq!(known.len(), vars::dialplan::ALL.len(), "duplicate in vars::dialplan::ALL");
}

#[test]
fn dialplans_set_exactly_the_variables_kontakt_reads() {
    let set = set_in_xml();
    let set_names: BTreeSet<String> =
        set.iter().filter(|(n, _)| n.starts_with("kontakt_")).map(|(n, _)| n.clone()).collect();
    let known: BTreeSet<String> = vars::dialplan::ALL.iter().map(|s| (*s).to_owned()).collect();
    let never_set: Vec<_> = known.difference(&set_names).collect();
    // Variables Kontakt sets itself are read by the dialplan, never set there.
    let unread: Vec<_> = set_names
        .difference(&known)
        .filter(|n| !vars::kontakt_sets::ALL.contains(&n.as_str()))
        .collect();
    assert!(
        never_set.is_empty() && unread.is_empty(),
        "dialplans/*.xml and vars::dialplan differ:\n  read by Kontakt but set by no dialplan: \
         {never_set:?}\n  set by a dialplan but unknown to Kontakt (add to vars.rs and \
         VARIABLES.md): {unread:?}"
    );
    for v in vars::kontakt_sets::ALL {
        assert!(!set_names.contains(*v), "{v} is Kontakt's to set, but a dialplan sets it");
    }
}

#[test]
fn set_where_names_a_file_that_sets_the_variable() {
    let set = set_in_xml();
    for (name, wherein) in table() {
        for part in wherein.split(';') {
            let file = part.split(':').next().unwrap().trim();
            assert!(
                dialplans().join(file).is_file(),
                "VARIABLES.md: {name} is set in {file:?}, which does not exist"
            );
            assert!(
                set.iter().any(|(n, f)| *n == name && f == file),
                "VARIABLES.md says {file} sets {name}, but it does not"
            );
        }
    }
}

#[test]
fn degraded_transfer_names_the_degraded_extension_the_public_dialplan_uses() {
    let target = vars::extensions::DEGRADED_TRANSFER;
    let (exten, context) = match target.split(' ').collect::<Vec<_>>()[..] {
        [e, "XML", c] => (e, c),
        _ => panic!("{target:?} is not `<extension> XML <context>`"),
    };
    let degraded = strip_comments(&read(&dialplans().join("kontakt_degraded.xml")));
    assert!(degraded.contains(&format!("<context name=\"{context}\">")), "no context {context}");
    assert!(
        degraded.contains(&format!("expression=\"^{exten}$\"")),
        "context {context} has no extension matching {exten}"
    );
    let public = strip_comments(&read(&dialplans().join("public/00_kontakt.xml")));
    assert!(
        public.contains(&format!("application=\"transfer\" data=\"{target}\"")),
        "the public dialplan does not transfer to {target:?} after the socket"
    );
}
