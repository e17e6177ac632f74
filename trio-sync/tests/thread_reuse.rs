//! Worker threads are reused across to_thread calls (alone in its own test binary, so
//! no other test can take the idle worker).

use std::collections::HashSet;

use trio_sync::to_thread;

#[test]
fn sequential_calls_reuse_one_worker_thread() {
    trio_core::run(|| async {
        let mut threads = HashSet::new();
        for _ in 0..10 {
            threads.insert(to_thread::run_sync(|| std::thread::current().id()).await?);
        }
        assert_eq!(threads.len(), 1, "one idle worker served every call");
        Ok(())
    })
    .unwrap();
}
