//! What every session of one server shares: its `initialize` result, its
//! offer (which lists have a capability), its hostile knobs, its pager and
//! its watchers.

use std::sync::{Arc, Mutex};

use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};

use crate::fleet::UpstreamSpec;
use crate::hostile::Hostile;
use crate::notice::NotifyStyle;
use crate::observe::Watch;
use crate::pagination::Pager;

/// What a server offers beyond its tools: which lists have a capability, and
/// whether the conformance suite's fixture tools are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offer {
    pub prompts: bool,
    pub resources: bool,
    pub trigger_tools: bool,
    /// Check mode's `view` tool, listed last (see [`crate::check::view`]).
    pub view: bool,
}

/// What every session of one server shares: its `initialize` result (and
/// `server/discover`'s), its offer, its hostile behaviour, and who watches
/// the run.
#[derive(Debug)]
pub struct Profile {
    pub(super) info: ServerConfig,
    pub(super) offer: Offer,
    pub(super) hostile: Hostile,
    /// Pages the lists. What it remembers (which cursors `repeat-once` has
    /// repeated) is the server's, shared by every session: a 2026-07-28
    /// client has no session to remember it in.
    pub(super) pager: Mutex<Pager>,
    pub(super) watch: Watch,
    /// The fleet upstream this server is, if it is one: its name, tool
    /// names and knobs.
    pub(super) upstream: Option<Arc<UpstreamSpec>>,
}

impl Profile {
    /// Capabilities follow the offer, so a default server answers exactly
    /// as it always has. A fleet upstream's (`upstream`) has its own: its
    /// name is its `serverInfo.name`, and its knobs replace `hostile`.
    pub fn of(
        offer: Offer,
        hostile: Hostile,
        upstream: Option<Arc<UpstreamSpec>>,
        watch: Watch,
    ) -> Arc<Self> {
        let hostile = upstream.as_ref().map_or(hostile, |u| u.hostile);
        let name = upstream
            .as_ref()
            .map_or(env!("CARGO_PKG_NAME"), |u| &u.name);
        Arc::new(Self {
            info: server_config(offer, name),
            offer,
            hostile,
            pager: Mutex::new(Pager::new(hostile.paging())),
            watch,
            upstream,
        })
    }

    /// Who watches this server's run: what its Sessions report to.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// How this server's Sessions write notifications.
    pub fn notify(&self) -> NotifyStyle {
        self.hostile.notify_style()
    }
}

fn server_config(offer: Offer, name: &str) -> ServerConfig {
    let mut capabilities = ServerCapabilities::builder()
        .enable_logging()
        .enable_tools()
        .enable_tool_list_changed()
        .build();
    if offer.prompts {
        let mut with = ServerCapabilities::builder()
            .enable_prompts()
            .enable_prompts_list_changed()
            .build();
        capabilities.prompts = with.prompts.take();
    }
    if offer.resources {
        let mut with = ServerCapabilities::builder()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .build();
        capabilities.resources = with.resources.take();
    }
    ServerConfig::new(capabilities)
        .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "A test server whose tool list grows by one tool on every SIGHUP, \
             each followed by notifications/tools/list_changed.",
        )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The capabilities `initialize` answers with for `offer`.
    fn capabilities(offer: Offer) -> Value {
        let profile = Profile::of(offer, Hostile::default(), None, Watch::default());
        serde_json::to_value(&profile.info.capabilities).unwrap()
    }

    #[test]
    fn a_default_server_offers_tools_and_logging_only() {
        assert_eq!(
            capabilities(Offer::default()),
            json!({ "logging": {}, "tools": { "listChanged": true } })
        );
    }

    #[test]
    fn prompts_and_resources_come_with_the_offer_and_their_notifications() {
        let offer = Offer {
            prompts: true,
            resources: true,
            trigger_tools: false,
            view: false,
        };
        let capabilities = capabilities(offer);
        assert_eq!(capabilities["prompts"], json!({ "listChanged": true }));
        assert_eq!(
            capabilities["resources"],
            json!({ "listChanged": true, "subscribe": true })
        );
        assert_eq!(capabilities["tools"], json!({ "listChanged": true }));
    }

    #[test]
    fn trigger_tools_change_no_capability() {
        let offer = Offer {
            trigger_tools: true,
            ..Offer::default()
        };
        assert_eq!(capabilities(offer), capabilities(Offer::default()));
    }

    #[test]
    fn the_server_names_itself_as_this_package() {
        let profile = Profile::of(Offer::default(), Hostile::default(), None, Watch::default());
        assert_eq!(profile.info.server_info.name, env!("CARGO_PKG_NAME"));
        assert_eq!(profile.info.server_info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(profile.notify(), NotifyStyle::default());
    }
}
