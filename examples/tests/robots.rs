//! robots.txt rules (RFC 9309) as the spider reads them: which group applies, and which
//! rule wins.

use trio_examples::robots::Robots;

const AGENT: &str = "trio-rs-spider/0.1";

#[test]
fn our_own_group_replaces_the_star_group() {
    let r = Robots::parse(
        "User-agent: *\nDisallow: /\n\nUser-agent: trio-rs-spider\nDisallow: /private/\n",
        AGENT,
    );
    assert!(r.is_allowed("/index.html"));
    assert!(!r.is_allowed("/private/x.html"));
}

#[test]
fn the_star_group_applies_when_no_group_names_us() {
    let r = Robots::parse(
        "User-agent: googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp/\n",
        AGENT,
    );
    assert!(r.is_allowed("/a.html"));
    assert!(!r.is_allowed("/tmp/a.html"));
}

#[test]
fn agent_names_match_case_insensitively_without_version() {
    let r = Robots::parse("User-agent: Trio-RS-Spider/9.9\nDisallow: /x\n", AGENT);
    assert!(!r.is_allowed("/x"));
}

#[test]
fn consecutive_user_agent_lines_share_a_group_and_a_later_one_starts_a_new_group() {
    let text = "User-agent: other\nUser-agent: trio-rs-spider\nDisallow: /a\n\
                User-agent: other2\nDisallow: /b\n";
    let r = Robots::parse(text, AGENT);
    assert!(!r.is_allowed("/a"));
    assert!(r.is_allowed("/b"), "/b belongs to other2's group");
}

#[test]
fn several_groups_naming_us_are_merged() {
    let text = "User-agent: trio-rs-spider\nDisallow: /a\n\n\
                User-agent: x\nDisallow: /\n\n\
                User-agent: trio-rs-spider\nDisallow: /b\n";
    let r = Robots::parse(text, AGENT);
    assert!(!r.is_allowed("/a/1"));
    assert!(!r.is_allowed("/b/1"));
    assert!(r.is_allowed("/c"));
    assert_eq!(r.rules(), 2);
}

#[test]
fn user_agent_lines_separated_by_blank_lines_still_share_a_group() {
    // RFC 9309: a group is its user-agent lines (blank lines between them allowed), then
    // its rules; so `*`'s rules are ours here too.
    let r = Robots::parse(
        "User-agent: trio-rs-spider\n\nUser-agent: *\nDisallow: /\n",
        AGENT,
    );
    assert!(!r.is_allowed("/a"));
}

#[test]
fn a_group_naming_us_without_rules_allows_everything_whatever_star_says() {
    let r = Robots::parse(
        "User-agent: *\nDisallow: /\n\nUser-agent: trio-rs-spider\n",
        AGENT,
    );
    assert!(r.is_allowed("/a"));
}

#[test]
fn the_longest_matching_rule_wins_and_allow_wins_a_tie() {
    let text = "User-agent: *\nDisallow: /shop/\nAllow: /shop/public/\n\
                Disallow: /shop/public/secret\nAllow: /same\nDisallow: /same\n";
    let r = Robots::parse(text, AGENT);
    assert!(!r.is_allowed("/shop/cart"));
    assert!(r.is_allowed("/shop/public/page"));
    assert!(!r.is_allowed("/shop/public/secret.html"));
    assert!(r.is_allowed("/same/thing"));
}

#[test]
fn wildcards_and_end_anchors_match() {
    let text = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /a*/z\nDisallow: /exact$\n";
    let r = Robots::parse(text, AGENT);
    assert!(!r.is_allowed("/docs/x.pdf"));
    assert!(r.is_allowed("/docs/x.pdf.html"));
    assert!(!r.is_allowed("/abc/z/1"));
    assert!(r.is_allowed("/abc/y"));
    assert!(!r.is_allowed("/exact"));
    assert!(r.is_allowed("/exactly"));
}

#[test]
fn comments_unknown_keys_and_empty_disallow_are_ignored() {
    let text = "# hello\nUser-agent: * # everyone\nCrawl-delay: 10\nSitemap: http://x/s.xml\n\
                Disallow:\nDisallow: /private # not this\n";
    let r = Robots::parse(text, AGENT);
    assert_eq!(r.rules(), 1);
    assert!(r.is_allowed("/public"));
    assert!(!r.is_allowed("/private/x"));
}

#[test]
fn rules_before_any_user_agent_and_garbage_lines_are_ignored() {
    let r = Robots::parse("Disallow: /\nthis is not robots.txt\n\0\u{fffd}\n", AGENT);
    assert_eq!(r, Robots::allow_all());
    assert!(r.is_allowed("/anything"));
}

#[test]
fn robots_txt_itself_is_always_allowed() {
    assert!(Robots::disallow_all().is_allowed("/robots.txt"));
    assert!(!Robots::disallow_all().is_allowed("/"));
}

#[test]
fn non_ascii_patterns_match_the_percent_encoded_path() {
    let r = Robots::parse("User-agent: *\nDisallow: /caf\u{e9}/\n", AGENT);
    let url = url::Url::parse("http://h/caf\u{e9}/menu").unwrap();
    assert!(!r.is_allowed(url.path()));
}

#[test]
fn query_strings_are_part_of_the_matched_path() {
    let r = Robots::parse("User-agent: *\nDisallow: /search?q=\n", AGENT);
    assert!(!r.is_allowed("/search?q=trio"));
    assert!(r.is_allowed("/search"));
}
