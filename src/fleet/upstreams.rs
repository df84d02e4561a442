//! The upstreams as a running server holds them: each one's Registry,
//! report and HTTP sessions, found by name. A server that is no fleet's has
//! one, without a name; the triggers and the control endpoint reach every
//! catalog through this, the one way for both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use ractor::{ActorRef, call};

use crate::actors::registry::RegistryHandle;
use crate::fleet::{UpstreamSpec, names};
use crate::http::server::HttpServerMsg;
use crate::observe::Watch;
use crate::report::recorder::RecorderMsg;

/// One upstream as the server runs it.
pub struct Upstream {
    /// Its name and shape; `None` for a server that is no fleet's upstream.
    pub spec: Option<Arc<UpstreamSpec>>,
    /// Its catalog.
    pub registry: RegistryHandle,
    /// Its client report, if the run is recorded.
    pub recorder: Option<ActorRef<RecorderMsg>>,
    /// Who watches its run: its recorder and the server's metrics.
    pub watch: Watch,
    /// Stopped by the control endpoint: its path answers 404 until started.
    stopped: AtomicBool,
    /// Its HTTP sessions' tracker, once it serves over HTTP.
    http: OnceLock<ActorRef<HttpServerMsg>>,
}

/// Why an upstream could not be stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("only an upstream served over HTTP stops and starts; stop a stdio one by its process")]
    NotHttp,
    #[error("the server is shutting down")]
    Stopping,
}

impl Upstream {
    pub fn new(
        spec: Option<Arc<UpstreamSpec>>,
        registry: RegistryHandle,
        recorder: Option<ActorRef<RecorderMsg>>,
        watch: Watch,
    ) -> Self {
        Self {
            spec,
            registry,
            recorder,
            watch,
            stopped: AtomicBool::new(false),
            http: OnceLock::new(),
        }
    }

    /// Its name in the fleet, if it is an upstream of one.
    pub fn name(&self) -> Option<&str> {
        self.spec.as_deref().map(|spec| spec.name.as_str())
    }

    /// Whether the control endpoint has stopped it.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// It serves over HTTP, its sessions tracked by `tracker`.
    pub fn serves_http(&self, tracker: ActorRef<HttpServerMsg>) {
        let _ = self.http.set(tracker);
    }

    /// Its HTTP sessions' tracker, if it serves over HTTP.
    pub fn http(&self) -> Option<&ActorRef<HttpServerMsg>> {
        self.http.get()
    }

    /// Stop serving, as a real server that stops does: from now on its path
    /// answers 404 and every session it had is ended (their clients get 404
    /// too). Its catalog stays, and takes changes. How many sessions ended.
    pub async fn stop(&self) -> Result<usize, StopError> {
        let tracker = self.http.get().ok_or(StopError::NotHttp)?;
        self.stopped.store(true, Ordering::Release);
        call!(tracker, HttpServerMsg::EndSessions).map_err(|_| StopError::Stopping)
    }

    /// Serve again, with the catalog as it is now; false if it was serving.
    /// A session that a request in flight at the stop opened is ended
    /// first: none from before the restart serves after it.
    pub async fn start(&self) -> Result<bool, StopError> {
        let tracker = self.http.get().ok_or(StopError::NotHttp)?;
        if !self.is_stopped() {
            return Ok(false);
        }
        call!(tracker, HttpServerMsg::EndSessions).map_err(|_| StopError::Stopping)?;
        Ok(self.stopped.swap(false, Ordering::AcqRel))
    }
}

/// Every upstream of a server: a fleet's, or the one of a server that is
/// no fleet.
pub struct Upstreams {
    all: Vec<Arc<Upstream>>,
    fleet: bool,
}

/// Why a request named no upstream of this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("this fleet's requests name their upstream (\"upstream\": one of {0})")]
    Unnamed(String),
    #[error("no upstream {0:?} in this fleet (one of {1})")]
    Unknown(String, String),
    #[error("this server has no upstream {0:?}: it serves one catalog")]
    NoFleet(String),
}

impl Upstreams {
    /// `all`, at least one; a fleet's if `fleet`.
    pub fn new(all: Vec<Arc<Upstream>>, fleet: bool) -> Self {
        assert!(!all.is_empty(), "a server has at least one upstream");
        Self { all, fleet }
    }

    /// Whether these are a fleet's upstreams (served at `/mcp/{name}`).
    pub fn is_fleet(&self) -> bool {
        self.fleet
    }

    pub fn all(&self) -> &[Arc<Upstream>] {
        &self.all
    }

    /// The first upstream: a server's only one.
    pub fn first(&self) -> &Arc<Upstream> {
        &self.all[0]
    }

    /// The upstream a request names: in a fleet it must name one; a server
    /// that is no fleet is its own one upstream, and answers to its own name
    /// (a stdio upstream's, `--upstream NAME`).
    pub fn pick(&self, name: Option<&str>) -> Result<&Arc<Upstream>, PickError> {
        match (name, self.fleet) {
            (None, false) => Ok(self.first()),
            (None, true) => Err(PickError::Unnamed(self.names())),
            (Some(name), fleet) => match self.all.iter().find(|u| u.name() == Some(name)) {
                Some(upstream) => Ok(upstream),
                None if fleet => Err(PickError::Unknown(name.to_owned(), self.names())),
                None => Err(PickError::NoFleet(name.to_owned())),
            },
        }
    }

    fn names(&self) -> String {
        names(self.all.iter().map(|u| u.name().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::registry::RegistryArgs;
    use crate::catalog::CatalogSize;
    use crate::hostile::Hostile;

    async fn upstream(name: Option<&str>) -> Arc<Upstream> {
        let (registry, _) = RegistryHandle::spawn(RegistryArgs::tools(1)).await.unwrap();
        let size = CatalogSize {
            tools: 1,
            prompts: None,
            resources: None,
        };
        let spec = name.map(|name| Arc::new(UpstreamSpec::new(name, size, Hostile::default())));
        Arc::new(Upstream::new(spec, registry, None, Watch::default()))
    }

    #[tokio::test]
    async fn a_fleet_request_names_its_upstream_and_a_server_answers_to_its_own_name() {
        let fleet = Upstreams::new(
            vec![upstream(Some("a")).await, upstream(Some("b")).await],
            true,
        );
        assert_eq!(fleet.pick(Some("b")).unwrap().name(), Some("b"));
        assert_eq!(
            fleet.pick(None).err(),
            Some(PickError::Unnamed("a, b".into()))
        );
        assert_eq!(
            fleet.pick(Some("c")).err(),
            Some(PickError::Unknown("c".into(), "a, b".into()))
        );

        let single = Upstreams::new(vec![upstream(None).await], false);
        assert!(single.pick(None).is_ok());
        assert_eq!(
            single.pick(Some("a")).err(),
            Some(PickError::NoFleet("a".into()))
        );
        let stdio = Upstreams::new(vec![upstream(Some("remote")).await], false);
        assert!(stdio.pick(None).is_ok() && stdio.pick(Some("remote")).is_ok());
        assert!(stdio.pick(Some("local")).is_err());
        // Not served over HTTP: nothing to stop.
        assert_eq!(stdio.first().stop().await, Err(StopError::NotHttp));
        assert!(!stdio.first().is_stopped());
    }
}
