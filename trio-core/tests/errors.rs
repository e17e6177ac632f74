//! `Error` (DESIGN §3 "Errors", §4b, §4c): kinds, groups and the leaf walk, source
//! chains, `is_cancelled`, `From<io::Error>` and any std error with `?`, `Error::msg`,
//! `Error::other`, and the conversions back to std types.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::io;

use trio_core::{Error, ErrorKind, Result, StdErrorAdapter};

#[derive(Debug)]
struct Inner;
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner cause")
    }
}
impl StdError for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer failure")
    }
}
impl StdError for Outer {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn error_msg_has_kind_other_and_displays_its_text() {
    let e = Error::msg("plain text");
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "plain text");
    assert_eq!(e.message(), Some("plain text"));
    assert!(!e.is_cancelled());
    assert!(e.group().is_none());
    assert!(e.source().is_none());
}

#[test]
fn error_new_and_with_source_keep_kind_message_and_chain() {
    let e = Error::new(ErrorKind::BrokenResource, "peer vanished");
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    assert_eq!(e.to_string(), "peer vanished");
    let e = Error::with_source(ErrorKind::BrokenResource, "tls failed", Outer(Inner));
    assert_eq!(e.to_string(), "tls failed");
    let s = e.source().expect("source");
    assert_eq!(s.to_string(), "outer failure");
    assert_eq!(s.source().expect("chained").to_string(), "inner cause");
    assert!(e.downcast_ref::<Outer>().is_some());
    let dbg = format!("{e:?}");
    assert!(dbg.contains("BrokenResource"), "{dbg}");
    assert!(dbg.contains("caused by: outer failure"), "{dbg}");
    assert!(dbg.contains("caused by: inner cause"), "{dbg}");
}

#[test]
fn any_std_error_converts_with_the_question_mark_and_stays_reachable() {
    fn parse(s: &str) -> Result<u32> {
        Ok(s.parse::<u32>()?)
    }
    let e = parse("x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert!(e.downcast_ref::<std::num::ParseIntError>().is_some());
    assert_eq!(
        e.to_string(),
        "x".parse::<u32>().unwrap_err().to_string(),
        "displays as the wrapped error"
    );
    let e = Error::other(Outer(Inner));
    assert_eq!(e.kind(), ErrorKind::Other);
    assert!(e.downcast_ref::<Outer>().is_some());
    assert_eq!(
        e.source().unwrap().source().unwrap().to_string(),
        "inner cause"
    );
}

#[test]
fn an_io_error_becomes_kind_io_and_stays_reachable() {
    fn open() -> Result<()> {
        Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))?;
        Ok(())
    }
    let e = open().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let io = e.io_error().expect("the io::Error");
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    let src = e.source().expect("source");
    assert!(src.downcast_ref::<io::Error>().is_some());
    assert_eq!(Error::other(io::Error::other("x")).kind(), ErrorKind::Io);
    // And back: the same io::Error comes out.
    let back: io::Error = e.into();
    assert_eq!(back.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(back.to_string(), "refused");
}

#[test]
fn trio_kinds_map_to_the_nearest_io_kind() {
    let cases = [
        (ErrorKind::WouldBlock, io::ErrorKind::WouldBlock),
        (ErrorKind::TooSlow, io::ErrorKind::TimedOut),
        (ErrorKind::BrokenResource, io::ErrorKind::BrokenPipe),
        (ErrorKind::ClosedResource, io::ErrorKind::NotConnected),
        (ErrorKind::EndOfChannel, io::ErrorKind::UnexpectedEof),
        (ErrorKind::Cancelled, io::ErrorKind::Interrupted),
        (ErrorKind::Other, io::ErrorKind::Other),
    ];
    for (kind, io_kind) in cases {
        let back: io::Error = Error::new(kind, "m").into();
        assert_eq!(back.kind(), io_kind, "{kind:?}");
        let inner = back.get_ref().expect("wrapped").to_string();
        assert_eq!(inner, "m");
    }
}

#[test]
fn cancelled_is_recognised() {
    let c = Error::cancelled();
    assert!(c.is_cancelled());
    assert_eq!(c.kind(), ErrorKind::Cancelled);
    assert_eq!(c.to_string(), "cancelled");
    assert!(!Error::new(ErrorKind::TooSlow, "t").is_cancelled());
}

#[test]
fn one_error_comes_back_as_it_is_and_several_as_a_group_in_order() {
    let one = Error::from_errors(vec![Error::msg("only")]);
    assert_eq!(one.kind(), ErrorKind::Other);
    assert!(one.group().is_none());
    let g = Error::from_errors(vec![Error::msg("a"), Error::new(ErrorKind::TooSlow, "b")]);
    assert_eq!(g.kind(), ErrorKind::Group);
    let members = g.group().expect("group");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].to_string(), "a");
    assert_eq!(members[1].kind(), ErrorKind::TooSlow);
    assert!(!g.is_cancelled());
    let text = g.to_string();
    assert!(text.contains("[1] a") && text.contains("[2] b"), "{text}");
}

#[test]
fn leaves_walk_nested_groups_depth_first_so_kind_matching_works_for_one_or_many() {
    let inner = Error::from_errors(vec![Error::msg("a"), Error::msg("b")]);
    let g = Error::from_errors(vec![
        inner,
        Error::new(ErrorKind::ClosedResource, "c"),
        Error::msg("d"),
    ]);
    let leaves: Vec<String> = g.leaves().map(|e| e.to_string()).collect();
    assert_eq!(leaves, ["a", "b", "c", "d"]);
    assert!(g.contains(ErrorKind::ClosedResource));
    assert!(!g.contains(ErrorKind::TooSlow));
    let single = Error::new(ErrorKind::ClosedResource, "x");
    assert_eq!(single.leaves().count(), 1);
    assert!(single.contains(ErrorKind::ClosedResource));
}

#[test]
fn a_group_of_only_cancelled_collapses_to_one_cancelled() {
    let g = Error::from_errors(vec![Error::cancelled(), Error::cancelled()]);
    assert!(g.is_cancelled());
    assert!(g.group().is_none());
    let mixed = Error::from_errors(vec![Error::cancelled(), Error::msg("real")]);
    assert!(
        !mixed.is_cancelled(),
        "a real error is not hidden as a cancellation"
    );
    assert!(mixed.contains(ErrorKind::Cancelled));
}

#[test]
#[should_panic(expected = "at least one error")]
fn from_errors_of_nothing_panics_naming_the_mistake() {
    let _ = Error::from_errors(Vec::new());
}

#[test]
fn kinds_are_copy_eq_ord_hash_and_errors_are_send_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Error>();
    let k = ErrorKind::Io;
    let k2 = k;
    assert_eq!(k, k2);
    assert!(ErrorKind::Cancelled < ErrorKind::Other);
    let set: HashSet<ErrorKind> = [ErrorKind::Io, ErrorKind::Io, ErrorKind::Group]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 2);
}

#[test]
fn the_std_error_adapter_exposes_the_error_to_std_code() {
    let e = Error::with_source(ErrorKind::Io, "wrapped", io::Error::other("os"));
    let boxed: Box<dyn StdError + Send + Sync> = e.into();
    assert_eq!(boxed.to_string(), "wrapped");
    assert_eq!(boxed.source().expect("chain").to_string(), "os");
    let adapter = StdErrorAdapter(Error::msg("m"));
    assert_eq!(adapter.to_string(), "m");
    assert!(format!("{adapter:?}").contains("Other"));
}
