//! `robots.txt` rules for the spider (RFC 9309): which group applies to us, and whether a
//! path is allowed.
//!
//! The file is a line format (`key: value`, `#` comments), so a small parser does:
//!
//! * a **group** is one or more `User-agent` lines followed by `Allow` / `Disallow` rules;
//!   a `User-agent` line after a rule starts the next group; other keys (`Sitemap`,
//!   `Crawl-delay`) are ignored;
//! * the groups naming **our agent** (case-insensitive, any `/version` ignored) apply,
//!   merged if there are several; if none names us, the `*` groups apply; if neither
//!   exists, everything is allowed;
//! * a path is checked against every rule of the applicable groups: the **longest**
//!   matching pattern wins, `Allow` winning a tie; no match allows. Patterns are prefixes
//!   of the path (and query), with `*` matching any run of characters and a final `$`
//!   anchoring the end; an empty `Disallow:` disallows nothing. Non-ASCII bytes in a
//!   pattern are percent-encoded, as the URL's path is.
//! * `/robots.txt` itself is always allowed.

/// The rules of the groups that apply to one agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Robots {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    pattern: String,
}

impl Robots {
    /// No rules: everything allowed (a missing `robots.txt`).
    pub fn allow_all() -> Self {
        Robots::default()
    }

    /// Everything disallowed (what RFC 9309 asks for while a server errors on
    /// `robots.txt`).
    pub fn disallow_all() -> Self {
        Robots {
            rules: vec![Rule {
                allow: false,
                pattern: "/".into(),
            }],
        }
    }

    /// Parses `text` and keeps the rules that apply to `agent` (a product token such as
    /// `trio-rs-spider`; a `/version` suffix is ignored).
    pub fn parse(text: &str, agent: &str) -> Self {
        let agent = product_token(agent);
        let mut ours: Option<Vec<Rule>> = None;
        let mut star: Option<Vec<Rule>> = None;
        // The current group: does it name us, does it name `*`, and has it had rules yet
        // (a `User-agent` line after a rule starts a new group).
        let (mut names_us, mut names_star, mut had_rules) = (false, false, false);
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "user-agent" => {
                    if had_rules {
                        (names_us, names_star, had_rules) = (false, false, false);
                    }
                    if value == "*" {
                        names_star = true;
                        star.get_or_insert_with(Vec::new);
                    } else if product_token(value) == agent {
                        names_us = true;
                        ours.get_or_insert_with(Vec::new);
                    }
                }
                key @ ("allow" | "disallow") => {
                    had_rules = true;
                    if value.is_empty() {
                        continue; // `Disallow:` with nothing: no rule.
                    }
                    let rule = Rule {
                        allow: key == "allow",
                        pattern: encode_pattern(value),
                    };
                    if names_us {
                        ours.get_or_insert_with(Vec::new).push(rule.clone());
                    }
                    if names_star {
                        star.get_or_insert_with(Vec::new).push(rule);
                    }
                }
                _ => {}
            }
        }
        Robots {
            rules: ours.or(star).unwrap_or_default(),
        }
    }

    /// How many rules apply.
    pub fn rules(&self) -> usize {
        self.rules.len()
    }

    /// Whether `path` (the URL's path, with `?query` if any) may be fetched.
    pub fn is_allowed(&self, path: &str) -> bool {
        if path == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for rule in &self.rules {
            if !matches(rule.pattern.as_bytes(), path.as_bytes()) {
                continue;
            }
            let len = rule.pattern.len();
            best = match best {
                Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                _ => Some((len, rule.allow)),
            };
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// `Name/1.0 (details)` -> `name`.
fn product_token(s: &str) -> String {
    s.split(['/', ' ', '\t'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Percent-encodes non-ASCII bytes (upper-case hex, as the `url` crate writes paths).
fn encode_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `pattern` (`*` wildcards, optional final `$`) matches a prefix of `path` (all
/// of it with `$`).
fn matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut parts = pattern.split(|&b| b == b'*');
    let first = parts.next().unwrap_or(b"");
    if !path.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    let rest: Vec<&[u8]> = parts.collect();
    let Some((last, middle)) = rest.split_last() else {
        // No `*`: a plain prefix, or the whole path with `$`.
        return !anchored || at == path.len();
    };
    // Each middle part at its earliest place (greedy is enough for `*`), then the last
    // one: at the very end if anchored, else anywhere after.
    for part in middle {
        match find(&path[at..], part) {
            Some(i) => at += i + part.len(),
            None => return false,
        }
    }
    if anchored {
        path.len() - at >= last.len() && path.ends_with(last)
    } else {
        find(&path[at..], last).is_some()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
