//! The list requests (`tools/list`, `prompts/list`, `resources/list`):
//! a page of the catalog's snapshot, as the server's pager cuts it.

use std::ops::Range;
use std::sync::Arc;

use rmcp::model::{
    CacheScope, ListPromptsResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    RequestMetaObject,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};

use super::errors::method_not_found;
use super::{McpHandler, Offer};
use crate::catalog::{ListKind, ToolList};
use crate::check::view;
use crate::listing::{Listing, Page, Prepared};
use crate::observe::Event;
use crate::{revision, trigger_tools};

/// The SEP-2549 caching hints of a 2026-07-28 list result, `(ttlMs,
/// cacheScope)`. A list here changes whenever a signal or a client says so,
/// which no freshness window can foresee: 0 ms, so a client asks again or
/// listens for `list_changed` instead of trusting a copy. Every client sees
/// the same lists, so a shared cache may keep them: public.
const LIST_CACHE_HINTS: (Option<u64>, Option<CacheScope>) = (Some(0), Some(CacheScope::Public));

impl McpHandler {
    /// The page of `list` (at `version`, `len` items in `items`) that
    /// `request` asks for, its `nextCursor`, and which items it holds; the
    /// watchers see the request and the page served or the cursor refused.
    async fn page<'a, T: Clone + 'a>(
        &self,
        (method, list): (&'static str, ListKind),
        version: u64,
        len: usize,
        items: impl Iterator<Item = &'a T>,
        (request, meta): (Option<&PaginatedRequestParams>, &RequestMetaObject),
    ) -> Result<(Vec<T>, Option<String>, Range<usize>), McpError> {
        self.see(meta, |session| Event::Request { session, method })
            .await;
        let cursor = request.and_then(|request| request.cursor.as_deref());
        let served = self
            .profile
            .pager
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .page(list, version, len, cursor);
        let served = match served {
            Ok(served) => served,
            Err(refused) => {
                self.see(meta, |session| Event::RefusedCursor {
                    session,
                    list,
                    cursor: refused.cursor().to_owned(),
                    reason: refused.reason().to_owned(),
                })
                .await;
                return Err(refused.into());
            }
        };
        let range = served.range;
        let page = items.skip(range.start).take(range.len()).cloned().collect();
        let next_cursor = served.next_cursor;
        let served = served.page;
        self.see(meta, |session| Event::Page {
            session,
            list,
            version: served.version,
            page: served.index,
            pages: served.total,
            cursor: served.cursor,
        })
        .await;
        Ok((page, next_cursor, range))
    }

    /// The caching hints of a list answer: `--list-ttl-ms`'s for every
    /// revision, or else [`LIST_CACHE_HINTS`] for a 2026-07-28 request and
    /// none before it.
    fn cache_hints(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> (Option<u64>, Option<CacheScope>) {
        match self.profile.hostile.list_ttl_ms {
            Some(ttl) => (Some(ttl), Some(CacheScope::Public)),
            None if is_stateless(context) => LIST_CACHE_HINTS,
            None => (None, None),
        }
    }

    pub(super) async fn tools_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let catalog = self.snapshot().await?;
        let upstream = self.profile.upstream.as_deref();
        if let Some(upstream) = upstream
            && upstream.fail_tools_list
        {
            self.see(&context.meta, |session| Event::Request {
                session,
                method: "tools/list",
            })
            .await;
            let message = format!("tools/list fails on upstream {}", upstream.name);
            return Err(McpError::internal_error(message, None));
        }
        // A fleet upstream that names its tools otherwise lists copies.
        let renamed = upstream
            .filter(|upstream| upstream.renames_tools())
            .map(|upstream| upstream.tools(catalog.tools.definitions()));
        let listed = renamed
            .as_deref()
            .unwrap_or_else(|| catalog.tools.definitions());
        let offer = self.profile.offer;
        let triggers = match offer.trigger_tools {
            true => trigger_tools::definitions(),
            false => &[],
        };
        let view = match offer.view {
            true => std::slice::from_ref(view::definition()),
            false => &[],
        };
        let (tools, next_cursor, range) = self
            .page(
                ("tools/list", ListKind::Tools),
                catalog.tools.version(),
                listed.len() + triggers.len() + view.len(),
                listed.iter().chain(triggers).chain(view),
                (request.as_ref(), &context.meta),
            )
            .await?;
        if let Some(prepared) = context.extensions.get::<Prepared>()
            && renamed.is_none()
        {
            // The transport writes the page's tools from the catalog's bytes.
            match tools_listing(&catalog.tools, range, offer) {
                Ok(page) => prepared.put(context.id.clone(), page),
                Err(error) => tracing::warn!(%error, "cannot serialize the tools"),
            }
        }
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next_cursor;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(context);
        Ok(result)
    }

    pub(super) async fn prompts_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let catalog = self.snapshot().await?;
        let prompts = catalog
            .prompts
            .ok_or_else(|| method_not_found("prompts/list"))?;
        let listed = prompts.definitions();
        let (page, next_cursor, _) = self
            .page(
                ("prompts/list", ListKind::Prompts),
                prompts.version(),
                listed.len(),
                listed.iter(),
                (request.as_ref(), &context.meta),
            )
            .await?;
        let mut result = ListPromptsResult::with_all_items(page);
        result.next_cursor = next_cursor;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(context);
        Ok(result)
    }

    pub(super) async fn resources_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let catalog = self.snapshot().await?;
        let resources = catalog
            .resources
            .ok_or_else(|| method_not_found("resources/list"))?;
        let listed = resources.definitions();
        let (page, next_cursor, _) = self
            .page(
                ("resources/list", ListKind::Resources),
                resources.version(),
                listed.len(),
                listed.iter(),
                (request.as_ref(), &context.meta),
            )
            .await?;
        let mut result = ListResourcesResult::with_all_items(page);
        result.next_cursor = next_cursor;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(context);
        Ok(result)
    }
}

/// Whether the request speaks 2026-07-28 or later, which has no handshake.
fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| revision::is_stateless(&version))
}

/// Items `range` of the tools list (the catalog's tools, then the fixture
/// tools and check mode's `view` tool if offered) as the listings hold them.
///
/// rmcp changes a listed tool after this handler only to drop an output
/// schema that is not an object, for a client before 2026-07-28; every tool
/// here has an object schema or none (`tools` tests it), so the bytes stay
/// those rmcp would write.
fn tools_listing(listed: &ToolList, range: Range<usize>, offer: Offer) -> serde_json::Result<Page> {
    let mut page = Page::default();
    let catalog = listed.listing()?;
    let mut parts: Vec<&Arc<Listing>> = vec![&catalog];
    if offer.trigger_tools {
        parts.push(trigger_tools::listing());
    }
    if offer.view {
        parts.push(view::listing());
    }
    let mut start = 0;
    for listing in parts {
        let end = start + listing.len();
        let (from, to) = (range.start.clamp(start, end), range.end.clamp(start, end));
        page.push(listing, from - start..to - start);
        start = end;
    }
    Ok(page)
}
