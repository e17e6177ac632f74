//! `Error`, `ErrorKind` and `Result`: the one error type of trio-rs.
//!
//! Owns the error vocabulary (Trio's exception classes as kinds), groups of errors as a
//! nursery collects them, and the leaf walk that lets code match a kind the same way for
//! one failure or many. Invariant: a `Group` error always holds two or more errors, and
//! a group whose leaves are all `Cancelled` is never built (it collapses to one
//! `Cancelled`), so `is_cancelled()` answers the question users mean. Representation: a
//! bare kind (with at most a static message) is stored inline, so the `Cancelled` every
//! cancelled sleep or timeout makes costs no allocation; richer errors are boxed, and
//! `Error` stays two words either way.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// `Result<T, trio_core::Error>`, the return type of every fallible trio operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in Trio's vocabulary.
///
/// ```
/// use trio_core::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::BusyResource, "two tasks receiving at once");
/// assert_eq!(e.kind(), ErrorKind::BusyResource);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operation was cancelled by an enclosing cancel scope; it had no effect.
    Cancelled,
    /// A `fail_after`/`fail_at` deadline expired.
    TooSlow,
    /// The resource was closed by this side (possibly while the task was blocked on it).
    ClosedResource,
    /// The resource broke for an outside reason (peer vanished, protocol failure).
    BrokenResource,
    /// Two tasks used a one-at-a-time resource at once.
    BusyResource,
    /// Every sender of a channel was closed and the buffer is drained.
    EndOfChannel,
    /// A `try_*` / `*_nowait` operation could not complete without blocking.
    WouldBlock,
    /// An operating-system I/O error; the `std::io::Error` is the source.
    Io,
    /// Several errors from one nursery; see [`Error::group`].
    Group,
    /// The run was already finished (or not started) when a foreign thread tried to enter it.
    RunFinished,
    /// trio-rs itself, or a system task, failed; the run was torn down.
    Internal,
    /// Anything else: a user error or a message.
    Other,
}

/// The error type of trio-rs: a kind, a message, an optional source, and for groups the
/// member errors.
///
/// Any `std::error::Error + Send + Sync + 'static` converts with `?`; an `io::Error`
/// becomes kind [`ErrorKind::Io`], everything else [`ErrorKind::Other`], and the original
/// stays reachable through [`Error::source`] and [`Error::downcast_ref`].
///
/// ```
/// use trio_core::{Error, ErrorKind, Result};
/// fn parse(s: &str) -> Result<u32> {
///     Ok(s.parse::<u32>()?)
/// }
/// let e = parse("x").unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Other);
/// assert!(e.downcast_ref::<std::num::ParseIntError>().is_some());
/// ```
pub struct Error {
    repr: Repr,
}

/// How an error is stored. Every cancelled sleep, timeout and operation makes a
/// `Cancelled`, so a kind with at most a static message is kept inline and costs no
/// allocation; anything carrying data is boxed, which keeps `Error` (and so every
/// `Result<T, Error>`) at two words. The static message is a thin `&'static &'static str`
/// because a fat `&'static str` beside the kind would make the error three words.
enum Repr {
    /// `Error::cancelled()`, `Error::from_static(..)`: a kind and maybe a static message.
    Simple {
        kind: ErrorKind,
        message: Option<&'static &'static str>,
    },
    /// A kind with an owned message, a source or group members.
    Full(Box<Inner>),
}

struct Inner {
    kind: ErrorKind,
    message: Option<Cow<'static, str>>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    group: Vec<Error>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self::build(kind, Some(message.into()), None)
    }

    /// An error of `kind` with a message and the error that caused it.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<Cow<'static, str>>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::build(kind, Some(message.into()), Some(Box::new(source)))
    }

    /// An error of `kind` with a static message, made without allocating: for errors a
    /// hot path returns often (a `try_*` that would block, a closed resource). Takes
    /// `&"text"` (a reference to a string literal, promoted to `'static`); usable in
    /// `const` items.
    ///
    /// ```
    /// use trio_core::{Error, ErrorKind};
    /// const FULL: Error = Error::from_static(ErrorKind::WouldBlock, &"channel is full");
    /// let e = FULL;
    /// assert_eq!(e.kind(), ErrorKind::WouldBlock);
    /// assert_eq!(e.message(), Some("channel is full"));
    /// assert_eq!(e.to_string(), "channel is full");
    /// ```
    pub const fn from_static(kind: ErrorKind, message: &'static &'static str) -> Self {
        Error {
            repr: Repr::Simple {
                kind,
                message: Some(message),
            },
        }
    }

    /// A plain message error, kind [`ErrorKind::Other`].
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::build(ErrorKind::Other, Some(message.to_string().into()), None)
    }

    /// Wraps any error as kind [`ErrorKind::Other`] (or `Io` for an `io::Error`), keeping it
    /// as the source.
    pub fn other(error: impl StdError + Send + Sync + 'static) -> Self {
        Self::from(error)
    }

    /// The `Cancelled` error a checkpoint raises inside a cancelled scope.
    pub fn cancelled() -> Self {
        Self::build(ErrorKind::Cancelled, None, None)
    }

    /// Builds the error a nursery returns for `errors`, in the order they happened: one
    /// error comes back as it is, two or more as a [`ErrorKind::Group`]; if every leaf is
    /// `Cancelled` the result is a single `Cancelled`.
    ///
    /// # Panics
    /// If `errors` is empty.
    pub fn from_errors(mut errors: Vec<Error>) -> Self {
        assert!(
            !errors.is_empty(),
            "Error::from_errors needs at least one error"
        );
        if errors.len() == 1 {
            return errors.pop().expect("one error");
        }
        if errors.iter().all(Error::is_cancelled) {
            return Error::cancelled();
        }
        Error {
            repr: Repr::Full(Box::new(Inner {
                kind: ErrorKind::Group,
                message: None,
                source: None,
                group: errors,
            })),
        }
    }

    fn build(
        kind: ErrorKind,
        message: Option<Cow<'static, str>>,
        source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        let repr = if message.is_none() && source.is_none() {
            Repr::Simple {
                kind,
                message: None,
            }
        } else {
            Repr::Full(Box::new(Inner {
                kind,
                message,
                source,
                group: Vec::new(),
            }))
        };
        Error { repr }
    }

    /// The boxed part, if this error has one.
    fn full(&self) -> Option<&Inner> {
        match &self.repr {
            Repr::Simple { .. } => None,
            Repr::Full(inner) => Some(inner),
        }
    }

    /// This error's kind.
    pub fn kind(&self) -> ErrorKind {
        match &self.repr {
            Repr::Simple { kind, .. } => *kind,
            Repr::Full(inner) => inner.kind,
        }
    }

    /// True for the `Cancelled` error of a cancel scope. Propagate it with `?`.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The member errors of a group, in the order they happened; `None` for a single error.
    pub fn group(&self) -> Option<&[Error]> {
        match &self.repr {
            // Only `from_static(Group, ..)` makes this: a group with no members, as
            // `Error::new(ErrorKind::Group, ..)` gives.
            Repr::Simple {
                kind: ErrorKind::Group,
                ..
            } => Some(&[]),
            Repr::Simple { .. } => None,
            Repr::Full(inner) => (inner.kind == ErrorKind::Group).then_some(&inner.group[..]),
        }
    }

    /// Every non-group error inside this one, depth first (just `self` for a single
    /// error), so matching by kind works the same for one failure or many.
    ///
    /// ```
    /// use trio_core::{Error, ErrorKind};
    /// let g = Error::from_errors(vec![Error::msg("a"), Error::new(ErrorKind::TooSlow, "b")]);
    /// assert!(g.leaves().any(|e| e.kind() == ErrorKind::TooSlow));
    /// ```
    pub fn leaves(&self) -> impl Iterator<Item = &Error> + '_ {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            while let Some(e) = stack.pop() {
                match e.group() {
                    Some(members) => stack.extend(members.iter().rev()),
                    None => return Some(e),
                }
            }
            None
        })
    }

    /// True when some leaf has `kind`.
    pub fn contains(&self, kind: ErrorKind) -> bool {
        // A single error is its own only leaf: answer without `leaves()`'s stack `Vec`
        // (every cancelled sleep and timeout asks this).
        let own = self.kind();
        if own != ErrorKind::Group {
            return own == kind;
        }
        self.leaves().any(|e| e.kind() == kind)
    }

    /// The error this one wraps, if any.
    pub fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.full()?
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }

    /// The wrapped source as a concrete type, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.full()?.source.as_deref()?.downcast_ref::<E>()
    }

    /// The wrapped `io::Error`, if this error came from the OS.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.downcast_ref::<std::io::Error>()
    }

    /// The message given at construction, if any.
    pub fn message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Simple { message, .. } => message.copied(),
            Repr::Full(inner) => inner.message.as_deref(),
        }
    }

    /// Removes `Cancelled` leaves from this error, as the scope that absorbs a cancellation
    /// does. Returns `None` when nothing else is left; groups left with one member
    /// collapse to it.
    pub(crate) fn strip_cancelled(self) -> Option<Error> {
        match self.repr {
            Repr::Simple {
                kind: ErrorKind::Cancelled,
                ..
            } => None,
            Repr::Full(inner) if inner.kind == ErrorKind::Cancelled => None,
            Repr::Full(inner) if inner.kind == ErrorKind::Group => {
                let Inner { group, .. } = *inner;
                let kept: Vec<Error> = group
                    .into_iter()
                    .filter_map(Error::strip_cancelled)
                    .collect();
                if kept.is_empty() {
                    None
                } else {
                    Some(Error::from_errors(kept))
                }
            }
            repr => Some(Error { repr }),
        }
    }

    /// True when this error is or contains a `Cancelled` leaf.
    pub(crate) fn has_cancelled(&self) -> bool {
        self.contains(ErrorKind::Cancelled)
    }

    fn describe_kind(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::TooSlow => "deadline expired (fail_after/fail_at)",
            ErrorKind::ClosedResource => "resource was closed",
            ErrorKind::BrokenResource => "resource is broken",
            ErrorKind::BusyResource => "resource is busy: another task is using it",
            ErrorKind::EndOfChannel => "end of channel",
            ErrorKind::WouldBlock => "operation would block",
            ErrorKind::Io => "I/O error",
            ErrorKind::Group => "errors from a nursery",
            ErrorKind::RunFinished => "the trio run has finished",
            ErrorKind::Internal => "trio internal error",
            ErrorKind::Other => "error",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message(), self.source()) {
            (Some(m), _) => f.write_str(m)?,
            (None, Some(s)) => write!(f, "{s}")?,
            (None, None) => f.write_str(self.describe_kind())?,
        }
        if let Some(members) = self.group() {
            write!(f, " ({} errors:", members.len())?;
            for (i, e) in members.iter().enumerate() {
                write!(f, "{} [{}] {e}", if i == 0 { "" } else { ";" }, i + 1)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {self}", self.kind())?;
        let mut source = self.source();
        // The message may already be the source's text; show the chain below it.
        if self.message().is_none() {
            source = source.and_then(StdError::source);
        }
        while let Some(s) = source {
            write!(f, "\n  caused by: {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        let kind = if (&error as &dyn Any).is::<std::io::Error>() {
            ErrorKind::Io
        } else {
            ErrorKind::Other
        };
        Self::build(kind, None, Some(Box::new(error)))
    }
}

/// A `trio_core::Error` seen as a `std::error::Error`, for code that wants `Box<dyn Error>`.
///
/// `Error` itself does not implement `std::error::Error` (that would forbid the blanket
/// `From` that lets `?` take any error); this wrapper does.
pub struct StdErrorAdapter(pub Error);

impl fmt::Debug for StdErrorAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for StdErrorAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for StdErrorAdapter {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(e: Error) -> Self {
        Box::new(StdErrorAdapter(e))
    }
}

impl From<Error> for std::io::Error {
    /// Gives back the `io::Error` inside an `Io` error; maps other kinds to the nearest
    /// `io::ErrorKind` (used by the `futures-io` adapters).
    fn from(e: Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            ErrorKind::Io => {
                let source = match e.repr {
                    Repr::Simple { .. } => None,
                    Repr::Full(inner) => inner.source,
                };
                return match source.map(|s| s.downcast::<std::io::Error>()) {
                    Some(Ok(io)) => *io,
                    Some(Err(other)) => std::io::Error::other(other),
                    None => std::io::Error::other("I/O error"),
                };
            }
            ErrorKind::WouldBlock => K::WouldBlock,
            ErrorKind::TooSlow => K::TimedOut,
            ErrorKind::BrokenResource => K::BrokenPipe,
            ErrorKind::ClosedResource => K::NotConnected,
            ErrorKind::EndOfChannel => K::UnexpectedEof,
            ErrorKind::Cancelled => K::Interrupted,
            _ => K::Other,
        };
        std::io::Error::new(kind, StdErrorAdapter(e))
    }
}

// Errors cross threads (to_thread results, foreign peers), so they must stay Send + Sync.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Error>();
};

// `Result<T, Error>` travels through every trio operation: keep `Error` at two words.
const _: () = assert!(std::mem::size_of::<Error>() <= 16);

/// Messages for programming mistakes, each naming the likely cause (Trio's
/// `MISNESTING_ADVICE` habit). Panics and errors quote them verbatim so tests can match.
pub mod misuse {
    /// A trio operation was used where no run is active on this thread.
    pub const OUTSIDE_RUN: &str = "trio operation called outside a running trio loop: \
         call it from inside trio_core::run(...) (on the loop's own thread)";
    /// A trio operation that needs a task was called from a loop callback.
    pub const OUTSIDE_TASK: &str = "trio operation called outside a trio task: \
         it was called from a run_sync_soon callback or instrument, which cannot block";
    /// `run` was called on a thread that is already running a loop.
    pub const NESTED_RUN: &str = "trio_core::run called while a trio run is already active \
         on this thread: runs cannot nest (use a nursery, or another thread)";
    /// `start_soon`/`start` on a nursery whose block has finished.
    pub const NURSERY_CLOSED: &str = "nursery is closed to new arrivals: its block and all \
         its tasks have finished, so nothing can be spawned into it any more";
    /// One task tried to block in two operations at once (e.g. `join!` of two sleeps).
    pub const CONCURRENT_PARK: &str = "a task can block in only one trio operation at a \
         time; to wait for several things, run them as tasks in a nursery";
    /// `reschedule` of a task that is not blocked in `wait_task_rescheduled`.
    pub const RESCHEDULE_NOT_PARKED: &str = "reschedule() called for a task that is not \
         blocked in wait_task_rescheduled, or that was already rescheduled";
    /// A `start()`ed task returned without calling `TaskStatus::started`.
    pub const NEVER_STARTED: &str = "the task passed to Nursery::start returned without \
         calling task_status.started()";
}
