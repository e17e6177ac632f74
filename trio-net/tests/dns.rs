//! Name resolution: numeric fast path, the per-run custom resolver hook, and the system
//! resolver on a worker thread.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use trio_core::{CancelScope, Result};
use trio_net::{getaddrinfo, set_custom_hostname_resolver, HostnameResolver, LocalBoxFuture};
use trio_testing::assert_checkpoints;

/// Answers every name with two copies of one address, and counts the calls.
#[derive(Default)]
struct Counting {
    calls: Cell<usize>,
}

impl HostnameResolver for Counting {
    fn getaddrinfo<'a>(
        &'a self,
        _host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            self.calls.set(self.calls.get() + 1);
            trio_core::checkpoint().await?;
            let a = SocketAddr::from(([192, 0, 2, 7], port));
            Ok(vec![a, a])
        })
    }
}

#[test]
fn numeric_hosts_are_answered_without_asking_the_resolver() -> Result<()> {
    trio_core::run(|| async {
        let resolver = Rc::new(Counting::default());
        set_custom_hostname_resolver(Some(resolver.clone()));
        let v4 = assert_checkpoints(getaddrinfo("127.0.0.1", 80)).await?;
        assert_eq!(v4, vec!["127.0.0.1:80".parse().unwrap()]);
        let v6 = getaddrinfo("[::1]", 443).await?;
        assert_eq!(v6, vec!["[::1]:443".parse().unwrap()]);
        assert_eq!(
            getaddrinfo("::1", 1).await?,
            vec!["[::1]:1".parse().unwrap()]
        );
        assert_eq!(resolver.calls.get(), 0);
        Ok(())
    })
}

#[test]
fn names_go_to_the_custom_resolver_without_duplicates_and_only_in_its_run() -> Result<()> {
    trio_core::run(|| async {
        let resolver = Rc::new(Counting::default());
        assert!(set_custom_hostname_resolver(Some(resolver.clone())).is_none());
        let found = getaddrinfo("anything.test", 8080).await?;
        assert_eq!(found, vec!["192.0.2.7:8080".parse().unwrap()]);
        assert_eq!(resolver.calls.get(), 1);
        // Uninstalling gives the previous one back.
        assert!(set_custom_hostname_resolver(None).is_some());
        Ok(())
    })?;
    trio_core::run(|| async {
        // A new run starts with the system resolver.
        assert!(set_custom_hostname_resolver(None).is_none());
        Ok(())
    })
}

#[test]
fn the_system_resolver_answers_on_a_worker_thread() -> Result<()> {
    trio_core::run(|| async {
        let found = assert_checkpoints(getaddrinfo("localhost", 9)).await?;
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|a| a.ip().is_loopback() && a.port() == 9),
            "{found:?}"
        );
        Ok(())
    })
}

#[test]
fn a_cancelled_lookup_returns_cancelled_at_once() -> Result<()> {
    trio_core::run(|| async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(getaddrinfo("localhost", 9)).await?;
        assert!(r.is_none());
        Ok(())
    })
}

#[test]
fn an_empty_host_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        let err = getaddrinfo("", 80).await.unwrap_err();
        assert!(err.to_string().contains("empty host"), "{err}");
        Ok(())
    })
}
