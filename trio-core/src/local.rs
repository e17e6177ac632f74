//! `RunVar`: a value per run, the run-wide analogue of a thread-local (Trio's `RunVar`).
//!
//! Values live in the run's state, keyed by an id each `RunVar` takes on first use, so a
//! `static` RunVar holds independent values in runs on different threads, and its value
//! is dropped when the run ends.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::context;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// One value of type `T` per run; meant to be a `static`.
///
/// ```
/// use trio_core::lowlevel::RunVar;
/// static REQUESTS: RunVar<u32> = RunVar::new("requests");
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     assert_eq!(REQUESTS.get(), None);
///     REQUESTS.set(1);
///     assert_eq!(REQUESTS.get_or_init(|| 0), 1);
///     Ok(())
/// })?;
/// trio_core::run(|| async {
///     assert_eq!(REQUESTS.get(), None); // a new run starts empty
///     Ok(())
/// })
/// # }
/// ```
pub struct RunVar<T> {
    name: &'static str,
    id: AtomicUsize,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> RunVar<T> {
    /// A run variable named `name` (for debugging).
    pub const fn new(name: &'static str) -> Self {
        RunVar {
            name,
            id: AtomicUsize::new(0),
            _marker: PhantomData,
        }
    }

    fn id(&self) -> usize {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// The value in the current run, if set.
    ///
    /// # Panics
    /// Outside a run.
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        context::with_run(|run| {
            run.run_vars
                .borrow()
                .get(&id)
                .and_then(|v| v.downcast_ref::<T>())
                .cloned()
        })
    }

    /// Sets the value for the current run; returns the previous one.
    pub fn set(&self, value: T) -> Option<T> {
        let id = self.id();
        context::with_run(|run| {
            run.run_vars
                .borrow_mut()
                .insert(id, Box::new(value) as Box<dyn Any>)
                .and_then(|old| old.downcast::<T>().ok())
                .map(|b| *b)
        })
    }

    /// The value in the current run, set to `init()` first if unset.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> T {
        if let Some(v) = self.get() {
            return v;
        }
        let v = init();
        self.set(v.clone());
        v
    }

    /// Removes the value from the current run.
    pub fn remove(&self) -> Option<T> {
        let id = self.id();
        context::with_run(|run| run.run_vars.borrow_mut().remove(&id))
            .and_then(|old| old.downcast::<T>().ok())
            .map(|b| *b)
    }

    /// The name given at construction.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> std::fmt::Debug for RunVar<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunVar").field("name", &self.name).finish()
    }
}
