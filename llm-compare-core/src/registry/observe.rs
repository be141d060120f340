//! A request registry with observers: what must happen when a request is registered or its
//! events are published (metrics, persistence) plugs in here, and the registry's own methods
//! are delegated once, in one place.

use std::sync::Arc;

use crate::{Event, EventStream, NewRequest, Registration, RequestInfo, RequestRegistry, Result};
use async_trait::async_trait;

/// Sees registrations and publications before they take effect.
#[async_trait]
pub trait RegistryObserver: Send + Sync + std::fmt::Debug {
    /// A request was registered. An error cancels it and is returned to the caller.
    async fn registered(&self, _request: &NewRequest, _registration: &Registration) -> Result<()> {
        Ok(())
    }

    /// `events` are about to be published (readers see them only after this returns).
    async fn publishing(&self, _id: &str, _events: &[Event]) -> Result<()> {
        Ok(())
    }
}

/// `inner`, with observers called in order.
#[derive(Debug)]
pub struct ObservedRegistry {
    inner: Arc<dyn RequestRegistry>,
    observers: Vec<Arc<dyn RegistryObserver>>,
}

impl ObservedRegistry {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn RequestRegistry>, observers: Vec<Arc<dyn RegistryObserver>>) -> Self {
        Self { inner, observers }
    }
}

#[async_trait]
impl RequestRegistry for ObservedRegistry {
    async fn register(&self, request: &NewRequest) -> Result<Registration> {
        let reg = self.inner.register(request).await?;
        for o in &self.observers {
            if let Err(e) = o.registered(request, &reg).await {
                reg.cancel.cancel();
                return Err(e);
            }
        }
        Ok(reg)
    }

    async fn publish(&self, id: &str, events: Vec<Event>) -> Result<()> {
        for o in &self.observers {
            o.publishing(id, &events).await?;
        }
        self.inner.publish(id, events).await
    }

    async fn status(&self, owner: &str, id: &str) -> Result<RequestInfo> {
        self.inner.status(owner, id).await
    }

    async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        self.inner.subscribe(owner, id, after_seq).await
    }

    async fn events(&self, owner: &str, id: &str, after_seq: u64) -> Result<Vec<Event>> {
        self.inner.events(owner, id, after_seq).await
    }

    async fn cancel(&self, owner: &str, id: &str) -> Result<()> {
        self.inner.cancel(owner, id).await
    }

    async fn lease(&self, owner: &str, max: Option<usize>) -> Result<crate::registry::ActiveLease> {
        self.inner.lease(owner, max).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    // Not observed: the ending of a dead process's request is not new work (its store rows
    // were marked by the restart that calls this).
    async fn end_abandoned(
        &self,
        owner: &str,
        id: &str,
        ending: Vec<crate::EventKind>,
    ) -> Result<bool> {
        self.inner.end_abandoned(owner, id, ending).await
    }

    async fn left_unfinished(&self, instance: &str) -> Result<Vec<(String, String)>> {
        self.inner.left_unfinished(instance).await
    }
}
