//! Comparison of two ESL byte streams by shape: message types, header names in order and
//! event order, ignoring values (UUIDs, timestamps, sequence numbers). Used to check the
//! emulator against real FreeSWITCH captures.

use std::collections::HashSet;
use std::fmt;

use kontakt_esl::{DecodeError, Decoder};

/// The shape of one ESL message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// `Content-Type`.
    pub content_type: String,
    /// Outer header names in order (for `command/reply`, also the `Reply-Text` with
    /// anything after `Job-UUID:` removed, since it is part of the protocol).
    pub outer: Vec<String>,
    /// `Event-Name` (`CUSTOM::<subclass>` for custom events), or the reply text.
    pub label: String,
    /// Event header names in order, without `variable_*`.
    pub headers: Vec<String>,
    /// The `variable_*` names.
    pub variables: Vec<String>,
}

/// Decodes a stream into shapes.
pub fn shapes(bytes: &[u8]) -> Result<Vec<Shape>, DecodeError> {
    let mut d = Decoder::new();
    d.feed(bytes);
    let mut out = Vec::new();
    while let Some(m) = d.decode()? {
        let content_type = m.content_type_str().unwrap_or_default().to_owned();
        let outer: Vec<String> = m
            .headers()
            .iter()
            .map(|(n, _)| n.to_owned())
            // the connect reply's channel data is compared like event headers
            .filter(|n| {
                matches!(
                    n.as_str(),
                    "Content-Type"
                        | "Content-Length"
                        | "Reply-Text"
                        | "Job-UUID"
                        | "Socket-Mode"
                        | "Control"
                        | "Controlled-Session-UUID"
                        | "Content-Disposition"
                        | "Channel-Name"
                        | "Linger-Time"
                ) || m.event().is_none()
            })
            .collect();
        let (label, headers, variables) = match m.event() {
            Some(ev) => {
                let mut label = ev.name().unwrap_or_default().to_owned();
                if let Some(s) = ev.subclass() {
                    label = format!("CUSTOM::{s}");
                }
                if content_type == "command/reply" {
                    label = "CHANNEL_DATA(connect)".into();
                }
                let mut headers = Vec::new();
                let mut variables = Vec::new();
                for (n, _) in ev.headers().iter() {
                    if n.starts_with("variable_") {
                        variables.push(n.to_owned());
                    } else if !matches!(
                        n,
                        "Content-Type" | "Reply-Text" | "Socket-Mode" | "Control"
                    ) {
                        headers.push(n.to_owned());
                    }
                }
                (label, headers, variables)
            }
            None => {
                let mut label = m.reply_text().unwrap_or_default().to_owned();
                if let Some(i) = label.find("Job-UUID:") {
                    label.truncate(i + "Job-UUID:".len());
                }
                if content_type == "api/response" {
                    label = api_label(&m.body_text());
                }
                (label, Vec::new(), Vec::new())
            }
        };
        out.push(Shape { content_type, outer, label, headers, variables });
    }
    Ok(out)
}

fn api_label(body: &str) -> String {
    let first = body.split_whitespace().next().unwrap_or_default();
    match first {
        "+OK" | "-ERR" | "UP" => format!("api:{first}"),
        _ if body.starts_with('{') => "api:json".into(),
        _ => "api:text".into(),
    }
}

/// What to ignore.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Drop these labels from both sides before aligning (e.g. `CUSTOM::sofia::pre_register`,
    /// `API`, events the emulator does not model).
    pub ignore: Vec<String>,
    /// Also require the same `variable_*` names (otherwise only counted).
    pub strict_variables: bool,
}

/// The result of a comparison.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Messages present in both, in order.
    pub matched: usize,
    /// Matched messages whose header names (in order) are identical.
    pub same_headers: usize,
    /// Labels only in the expected stream (position in the expected stream).
    pub missing: Vec<(usize, String)>,
    /// Labels only in the actual stream.
    pub extra: Vec<(usize, String)>,
    /// Header differences of matched messages: (label, description).
    pub header_diffs: Vec<(String, String)>,
    /// Variable names expected/seen in matched events, and how many of the expected were
    /// present.
    pub variables_expected: usize,
    /// See `variables_expected`.
    pub variables_present: usize,
    /// Names of expected variables that were absent from at least one matched event.
    pub missing_variables: std::collections::BTreeSet<String>,
}

impl Report {
    /// No missing or extra messages and no header differences.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.header_diffs.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "matched {} messages ({} with identical header names), {} missing, {} extra; variables {}/{}",
            self.matched,
            self.same_headers,
            self.missing.len(),
            self.extra.len(),
            self.variables_present,
            self.variables_expected
        )?;
        for (i, l) in &self.missing {
            writeln!(f, "  missing #{i}: {l}")?;
        }
        for (i, l) in &self.extra {
            writeln!(f, "  extra   #{i}: {l}")?;
        }
        for (l, d) in &self.header_diffs {
            writeln!(f, "  headers {l}: {d}")?;
        }
        if !self.missing_variables.is_empty() {
            writeln!(f, "  variables missing in some events: {:?}", self.missing_variables)?;
        }
        Ok(())
    }
}

fn key(s: &Shape) -> String {
    format!("{} {}", s.content_type, s.label)
}

/// Aligns `actual` to `expected` (longest common subsequence of type+label) and compares
/// the header names of aligned messages.
pub fn compare(expected: &[Shape], actual: &[Shape], opts: &Options) -> Report {
    let keep = |s: &&Shape| !opts.ignore.contains(&s.label);
    let e: Vec<&Shape> = expected.iter().filter(keep).collect();
    let a: Vec<&Shape> = actual.iter().filter(keep).collect();
    let ek: Vec<String> = e.iter().map(|s| key(s)).collect();
    let ak: Vec<String> = a.iter().map(|s| key(s)).collect();
    // LCS table
    let (n, m) = (ek.len(), ak.len());
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if ek.get(i) == ak.get(j) {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
            t[i][j] = v;
        }
    }
    let mut r = Report::default();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && ek.get(i) == ak.get(j) {
            let (x, y) = (e[i], a[j]);
            r.matched += 1;
            let mut same = true;
            if x.outer != y.outer {
                same = false;
                r.header_diffs.push((x.label.clone(), diff("outer", &x.outer, &y.outer)));
            }
            if x.headers != y.headers {
                same = false;
                r.header_diffs.push((x.label.clone(), diff("event", &x.headers, &y.headers)));
            }
            let have: HashSet<&String> = y.variables.iter().collect();
            r.variables_expected += x.variables.len();
            r.variables_present += x.variables.iter().filter(|v| have.contains(v)).count();
            r.missing_variables.extend(x.variables.iter().filter(|v| !have.contains(v)).cloned());
            if opts.strict_variables && x.variables != y.variables {
                same = false;
                r.header_diffs
                    .push((x.label.clone(), diff("variables", &x.variables, &y.variables)));
            }
            if same {
                r.same_headers += 1;
            }
            i += 1;
            j += 1;
        } else if j >= m || (i < n && t[i + 1][j] >= t[i][j + 1]) {
            r.missing.push((i, ek[i].clone()));
            i += 1;
        } else {
            r.extra.push((j, ak[j].clone()));
            j += 1;
        }
    }
    r
}

fn diff(what: &str, x: &[String], y: &[String]) -> String {
    let xs: HashSet<&String> = x.iter().collect();
    let ys: HashSet<&String> = y.iter().collect();
    let missing: Vec<&String> = x.iter().filter(|h| !ys.contains(h)).collect();
    let extra: Vec<&String> = y.iter().filter(|h| !xs.contains(h)).collect();
    if missing.is_empty() && extra.is_empty() {
        format!("{what}: same names, different order")
    } else {
        format!("{what}: missing {missing:?}, extra {extra:?}")
    }
}
