//! assert_checkpoints / assert_no_checkpoints catch the operations they should.

use std::time::Duration;

use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, sleep, Error, ErrorKind,
    Result,
};
use trio_testing::{assert_checkpoints, assert_no_checkpoints, run_autojump};

#[test]
fn a_checkpoint_and_a_sleep_pass_assert_checkpoints() -> Result<()> {
    run_autojump(|| async {
        assert_checkpoints(checkpoint()).await?;
        assert_checkpoints(sleep(Duration::from_secs(1))).await?;
        Ok(())
    })
}

#[test]
#[should_panic(expected = "did not checkpoint")]
fn assert_checkpoints_fails_on_a_plain_future() {
    let _ = run_autojump(|| async { assert_checkpoints(async { Ok(()) }).await });
}

#[test]
#[should_panic(expected = "did not checkpoint")]
fn a_cancel_point_alone_is_not_a_checkpoint() {
    let _ = run_autojump(|| async { assert_checkpoints(checkpoint_if_cancelled()).await });
}

#[test]
#[should_panic(expected = "did not checkpoint")]
fn a_schedule_point_alone_is_not_a_checkpoint() {
    let _ = run_autojump(|| async {
        assert_checkpoints(async {
            cancel_shielded_checkpoint().await;
            Ok(())
        })
        .await
    });
}

#[test]
fn an_early_error_is_not_checked() -> Result<()> {
    run_autojump(|| async {
        let r: Result<()> =
            assert_checkpoints(async { Err(Error::new(ErrorKind::Other, "x")) }).await;
        assert!(r.is_err());
        Ok(())
    })
}

#[test]
fn assert_no_checkpoints_passes_synchronous_work() -> Result<()> {
    run_autojump(|| async {
        assert_eq!(assert_no_checkpoints(async { 3 }).await, 3);
        Ok(())
    })
}

#[test]
#[should_panic(expected = "the operation checkpointed")]
fn assert_no_checkpoints_fails_on_a_schedule_point() {
    let _ = run_autojump(|| async {
        assert_no_checkpoints(cancel_shielded_checkpoint()).await;
        Ok(())
    });
}

#[test]
#[should_panic(expected = "the operation checkpointed")]
fn assert_no_checkpoints_fails_on_a_cancel_point() {
    let _ = run_autojump(|| async { assert_no_checkpoints(checkpoint_if_cancelled()).await });
}
