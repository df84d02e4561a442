//! Serialized lists: each listed item's JSON is made once per (number,
//! revision) and shared by every `*/list` answer that holds it, so a list of
//! 10,000 tools is not serialized again for every client that asks, and a
//! change serializes only the items it made.
//!
//! A [`Listing`] is one list at one version, serialized: the inside of its
//! JSON array and where each item's bytes are. The catalog keeps the listing
//! of each list's current version beside the list ([`ListingCache`]); a new
//! version copies the bytes of every item whose number and revision it still
//! holds from the one before.
//!
//! rmcp's list results hold their items as values (`Vec<Tool>`) that it
//! serializes for every answer, and no field of them can carry bytes made
//! earlier. So the bytes travel beside the result: the transport puts its
//! [`Prepared`] answers in every request's extensions, the `tools/list`
//! handler leaves there the page's bytes under the request's id (its items are
//! known exactly, as (number, revision)), and the transport asks
//! [`Prepared::encode`] for the line to write in place of serializing the
//! answer. The transport looks at no result: only this module knows where the
//! items go in rmcp's answer, and it writes rmcp's own serialization of
//! everything around them.
//!
//! Over HTTP rmcp serializes every answer itself, in its SSE response, and
//! takes only typed messages. So the handler answers there with a placeholder
//! (the result without its items) and leaves the page in the request's
//! [`Prepared`] all the same; the edge's response body finds the placeholder
//! among the bytes rmcp wrote ([`Prepared::items_at`] says where its items go)
//! and writes the page's bytes ([`Page::chunks`]) between its brackets.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use rmcp::model::{JsonRpcMessage, RequestId, ServerJsonRpcMessage, ServerResult};
use serde::{Deserialize, Serialize};

/// An item's identity: its number and revision. A definition is a function of
/// them, and so are its bytes.
pub type Key = (usize, u32);

/// One list at one version, serialized: `{item},{item},...`, the inside of
/// its JSON array, and each item's key and bytes.
#[derive(Debug)]
pub struct Listing {
    version: u64,
    /// Shared, so that an HTTP body can send slices of it without a copy.
    json: Bytes,
    items: Vec<(Key, Range<usize>)>,
}

impl Listing {
    /// Serialize `definitions` (keyed by `keys`, in the same order, sorted by
    /// number), taking the bytes of every item `previous` holds at the same
    /// number and revision from it.
    pub fn new<D: Serialize>(
        version: u64,
        keys: impl IntoIterator<Item = Key>,
        definitions: &[D],
        previous: Option<&Listing>,
    ) -> serde_json::Result<Self> {
        let old = previous.map_or(&[][..], |p| &p.items[..]);
        let mut at = 0;
        let mut json = Vec::with_capacity(previous.map_or(0, |p| p.json.len()));
        let mut items = Vec::with_capacity(definitions.len());
        for (key, definition) in keys.into_iter().zip(definitions) {
            if !json.is_empty() {
                json.push(b',');
            }
            let start = json.len();
            // Both lists are sorted by number: one walk finds every match.
            while at < old.len() && old[at].0.0 < key.0 {
                at += 1;
            }
            match (old.get(at), previous) {
                (Some((old_key, range)), Some(previous)) if *old_key == key => {
                    json.extend_from_slice(&previous.json[range.clone()]);
                }
                _ => serde_json::to_writer(&mut json, definition)?,
            }
            items.push((key, start..json.len()));
        }
        Ok(Self {
            version,
            json: Bytes::from(json),
            items,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes of items `range`, commas between them: what a page of the
    /// list holds between its brackets.
    pub fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.json[self.span(range)]
    }

    /// [`Listing::slice`], sharing the listing's bytes.
    fn bytes(&self, range: Range<usize>) -> Bytes {
        self.json.slice(self.span(range))
    }

    /// Where the bytes of items `range` are in `json`.
    fn span(&self, range: Range<usize>) -> Range<usize> {
        match (self.items.get(range.start), range.end.checked_sub(1)) {
            (Some(first), Some(last)) if range.start < range.end => {
                first.1.start..self.items[last].1.end
            }
            _ => 0..0,
        }
    }
}

/// The listing of a list's current version, made on first use and remade
/// when the version moves on. A copy (the catalog copies a list to change it)
/// starts from the same listing, so the new version reuses its items' bytes.
#[derive(Default)]
pub struct ListingCache(Mutex<Option<Arc<Listing>>>);

impl ListingCache {
    /// The listing of `definitions` at `version` (see [`Listing::new`]).
    ///
    /// Keyed by the version alone: every change to a list's definitions
    /// raises it (a resource update raises an item's revision, not the
    /// version, and leaves its listing as it was).
    pub fn get<D: Serialize>(
        &self,
        version: u64,
        keys: impl IntoIterator<Item = Key>,
        definitions: &[D],
    ) -> serde_json::Result<Arc<Listing>> {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(listing) = &*current
            && listing.version == version
        {
            return Ok(Arc::clone(listing));
        }
        let listing = Arc::new(Listing::new(
            version,
            keys,
            definitions,
            current.as_deref(),
        )?);
        *current = Some(Arc::clone(&listing));
        Ok(listing)
    }
}

impl Clone for ListingCache {
    fn clone(&self) -> Self {
        let current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Self(Mutex::new(current.clone()))
    }
}

impl std::fmt::Debug for ListingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let version = current.as_ref().map(|listing| listing.version);
        f.debug_struct("ListingCache")
            .field("version", &version)
            .finish()
    }
}

/// The items of one page of a list answer: slices of listings, in order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    parts: Vec<(Arc<Listing>, Range<usize>)>,
    len: usize,
}

impl Page {
    /// Add items `range` of `listing` after those already in the page.
    pub fn push(&mut self, listing: &Arc<Listing>, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.len += range.len();
        self.parts.push((Arc::clone(listing), range));
    }

    /// How many items the page holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The page's bytes, in order, commas between the items: what goes
    /// between the brackets of its answer's array. Slices of the listings,
    /// not copies.
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.parts.iter().enumerate().flat_map(|(i, part)| {
            let comma = (i > 0).then(|| Bytes::from_static(b","));
            comma
                .into_iter()
                .chain(std::iter::once(part.0.bytes(part.1.clone())))
        })
    }
}

/// A line made of pieces written one after another: an answer whose items
/// come from listings, written without copying them into one buffer.
#[derive(Debug)]
pub struct Line {
    head: Vec<u8>,
    page: Page,
    tail: Vec<u8>,
}

impl Line {
    /// The line's bytes, in order (no newline).
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let items = self.page.parts.iter().enumerate().flat_map(|(i, part)| {
            let comma: &[u8] = if i == 0 { b"" } else { b"," };
            [comma, part.0.slice(part.1.clone())]
        });
        std::iter::once(&self.head[..])
            .chain(items)
            .chain(std::iter::once(&self.tail[..]))
    }

    /// The whole line in one buffer.
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces().collect::<Vec<_>>().concat()
    }
}

/// Answers whose items were serialized before the answer was made: a
/// request's page of a list, by request id. One per transport connection; the
/// transport gives a copy to every request it hands to rmcp (in its
/// extensions), and takes each answer's page back when it writes the answer.
#[derive(Debug, Clone, Default)]
pub struct Prepared(Arc<Mutex<HashMap<RequestId, Page>>>);

impl Prepared {
    /// The answer to request `id` holds `page`'s items.
    pub fn put(&self, id: RequestId, page: Page) {
        self.pages().insert(id, page);
    }

    /// Request `id` is answered or cancelled: its page, if any, goes.
    pub fn forget(&self, id: &RequestId) {
        self.take(id);
    }

    /// The page prepared for request `id`, taken.
    pub fn take(&self, id: &RequestId) -> Option<Page> {
        let mut pages = self.pages();
        if pages.is_empty() {
            return None;
        }
        pages.remove(id)
    }

    /// Whether no page waits.
    pub fn is_empty(&self) -> bool {
        self.pages().is_empty()
    }

    /// Where in `json` the items of its prepared page go, and the page
    /// (taken), if `json` is rmcp's serialization of a placeholder answer: the
    /// answer to a request whose page was prepared, with no items (see the
    /// module doc). The items go between the brackets of the result's array,
    /// which, being the result's last field in the response's last field,
    /// ends the message: `"tools":[]}}`. Any other message gives `None`.
    pub fn items_at(&self, json: &[u8]) -> Option<(usize, Page)> {
        /// What is read of a placeholder answer: which request it answers.
        #[derive(Deserialize)]
        struct Answer {
            id: RequestId,
        }
        if !json.ends_with(PLACEHOLDER_END) {
            return None;
        }
        let Answer { id } = serde_json::from_slice(json).ok()?;
        let page = self.take(&id)?;
        Some((json.len() - b"]}}".len(), page))
    }

    /// The line to write for `message`, if it answers a request whose page was
    /// prepared: rmcp's serialization of the message, its items taken from the
    /// page. Any other message (or one whose items are not the page's) comes
    /// back, for the transport to serialize.
    // The message comes back as it went in: boxing it would cost an
    // allocation for every message the transport writes.
    #[allow(clippy::result_large_err)]
    pub fn encode(&self, message: ServerJsonRpcMessage) -> Result<Line, ServerJsonRpcMessage> {
        let id = match &message {
            JsonRpcMessage::Response(response) => &response.id,
            JsonRpcMessage::Error(error) => match &error.id {
                Some(id) => id,
                None => return Err(message),
            },
            _ => return Err(message),
        };
        let page = {
            let mut pages = self.pages();
            if pages.is_empty() {
                return Err(message);
            }
            pages.remove(id)
        };
        match page {
            Some(page) => splice(message, page),
            None => Err(message),
        }
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, Page>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How rmcp's serialization of a `tools/list` answer with no tools ends: the
/// array is the result's last field and the result the response's.
const PLACEHOLDER_END: &[u8] = br#""tools":[]}}"#;

/// `message` with its items from `page`: rmcp serializes the answer with no
/// items, and the page's go between the brackets of its array, which ends it
/// ([`PLACEHOLDER_END`]); a layout this does not know (a newer rmcp) gets the
/// plain way back rather than a wrong answer.
#[allow(clippy::result_large_err)] // as `Prepared::encode`
fn splice(mut message: ServerJsonRpcMessage, page: Page) -> Result<Line, ServerJsonRpcMessage> {
    let tools = match &mut message {
        JsonRpcMessage::Response(response) => match &mut response.result {
            ServerResult::ListToolsResult(result) if result.tools.len() == page.len() => {
                std::mem::take(&mut result.tools)
            }
            _ => return Err(message),
        },
        _ => return Err(message),
    };
    match serde_json::to_vec(&message) {
        Ok(mut head) if head.ends_with(PLACEHOLDER_END) => {
            let tail = head.split_off(head.len() - 3);
            Ok(Line { head, page, tail })
        }
        _ => {
            tracing::debug!("unexpected tools/list answer layout; serializing it whole");
            if let JsonRpcMessage::Response(response) = &mut message
                && let ServerResult::ListToolsResult(result) = &mut response.result
            {
                result.tools = tools;
            }
            Err(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ListToolsResult, NumberOrString, Tool};
    use serde_json::json;

    fn keys(numbers: &[(usize, u32)]) -> Vec<Key> {
        numbers.to_vec()
    }

    /// Tools whose every field depends on their key, some with an output
    /// schema, one with characters JSON escapes.
    fn definitions(keys: &[Key]) -> Vec<Tool> {
        keys.iter()
            .map(|&(k, r)| {
                let input = json!({ "type": "object", "properties": { "r": { "const": r } } });
                let tool = Tool::new(
                    format!("tool{k}"),
                    format!("Tool \"{k}\" at revision {r}\n"),
                    Arc::new(input.as_object().unwrap().clone()),
                );
                match k % 2 {
                    0 => tool.with_raw_output_schema(Arc::new(
                        json!({ "type": "object" }).as_object().unwrap().clone(),
                    )),
                    _ => tool,
                }
            })
            .collect()
    }

    /// What serde alone makes of the list: the listing must give the same bytes.
    fn plain(list: &[Tool]) -> String {
        let json = serde_json::to_string(list).unwrap();
        json[1..json.len() - 1].to_owned()
    }

    #[test]
    fn a_listing_gives_serdes_bytes_as_the_list_grows_and_changes() {
        let lists: Vec<Vec<Key>> = vec![
            keys(&[(1, 1)]),
            (1..=10).map(|k| (k, 1)).collect(),
            (1..=12).map(|k| (k, 1)).collect(),
            (1..=12).map(|k| (k, 1)).collect(),
            (1..=5).map(|k| (k, 1)).collect(),
            // Revised in the middle, then removed, then added past the end.
            keys(&[(1, 1), (2, 1), (3, 2), (4, 1), (5, 3)]),
            keys(&[(1, 1), (3, 2), (5, 3), (13, 1)]),
            Vec::new(),
            keys(&[(1, 1), (2, 1), (3, 1)]),
        ];
        let mut previous: Option<Listing> = None;
        for (version, list) in lists.iter().enumerate() {
            let defs = definitions(list);
            let listing = Listing::new(
                version as u64,
                list.iter().copied(),
                &defs,
                previous.as_ref(),
            )
            .unwrap();
            let all = String::from_utf8(listing.slice(0..listing.len()).to_vec()).unwrap();
            assert_eq!(all, plain(&defs));
            for start in 0..defs.len() {
                for end in start..=defs.len() {
                    let page = String::from_utf8(listing.slice(start..end).to_vec()).unwrap();
                    assert_eq!(page, plain(&defs[start..end]), "{start}..{end}");
                }
            }
            previous = Some(listing);
        }
    }

    #[test]
    fn a_cache_is_remade_when_the_version_moves_on_and_shared_until_then() {
        let cache = ListingCache::default();
        let list = keys(&[(1, 1), (2, 1)]);
        let defs = definitions(&list);
        let first = cache.get(1, list.iter().copied(), &defs).unwrap();
        let again = cache.get(1, list.iter().copied(), &defs).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let copy = cache.clone();
        let list = keys(&[(1, 1), (2, 2)]);
        let defs = definitions(&list);
        let next = copy.get(2, list.iter().copied(), &defs).unwrap();
        assert_eq!(next.version(), 2);
        assert_eq!(next.slice(0..2), plain(&defs).as_bytes());
        // The original still answers for its own version.
        assert!(Arc::ptr_eq(
            &first,
            &cache.get(1, [], &[] as &[Tool]).unwrap()
        ));
    }

    fn response(tools: Vec<Tool>, id: i64) -> ServerJsonRpcMessage {
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = Some("abc".into());
        ServerJsonRpcMessage::response(
            ServerResult::ListToolsResult(result),
            NumberOrString::Number(id),
        )
    }

    #[test]
    fn a_prepared_answer_is_the_codecs_bytes() {
        let list: Vec<Key> = (1..=6).map(|k| (k, 1 + (k == 5) as u32)).collect();
        let defs = definitions(&list);
        let listing = Arc::new(Listing::new(1, list.iter().copied(), &defs, None).unwrap());
        let triggers: Vec<Tool> = definitions(&keys(&[(101, 1), (102, 1), (103, 1)]));
        let trigger_listing = Arc::new(
            Listing::new(1, (1..=triggers.len()).map(|k| (k, 1)), &triggers, None).unwrap(),
        );
        let prepared = Prepared::default();
        for (range, trigger_range) in [(0..6, 0..0), (2..4, 0..0), (4..6, 0..2), (6..6, 1..3)] {
            let mut page = Page::default();
            page.push(&listing, range.clone());
            page.push(&trigger_listing, trigger_range.clone());
            let tools: Vec<Tool> = defs[range]
                .iter()
                .chain(&triggers[trigger_range])
                .cloned()
                .collect();
            prepared.put(NumberOrString::Number(7), page);
            let line = prepared.encode(response(tools.clone(), 7)).unwrap();
            let expected = serde_json::to_vec(&response(tools, 7)).unwrap();
            assert_eq!(
                String::from_utf8(line.to_vec()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
        // Taken once; other ids and other messages come back as they were.
        assert!(prepared.encode(response(defs.clone(), 7)).is_err());
        let mut page = Page::default();
        page.push(&listing, 0..6);
        prepared.put(NumberOrString::Number(8), page.clone());
        let same = |message: ServerJsonRpcMessage| {
            let before = serde_json::to_value(&message).unwrap();
            let back = prepared.encode(message).unwrap_err();
            assert_eq!(serde_json::to_value(&back).unwrap(), before);
        };
        same(response(defs.clone(), 9));
        // A page that does not hold the answer's items is not used.
        same(response(defs[..5].to_vec(), 8));
        prepared.put(NumberOrString::Number(8), page);
        prepared.forget(&NumberOrString::Number(8));
        same(response(defs, 8));
    }

    #[test]
    fn a_placeholder_answer_with_its_pages_chunks_is_the_codecs_bytes() {
        let list: Vec<Key> = (1..=6).map(|k| (k, 1 + (k == 2) as u32)).collect();
        let defs = definitions(&list);
        let listing = Arc::new(Listing::new(1, list.iter().copied(), &defs, None).unwrap());
        let triggers: Vec<Tool> = definitions(&keys(&[(101, 1), (102, 1)]));
        let trigger_listing = Arc::new(Listing::new(1, [(1, 1), (2, 1)], &triggers, None).unwrap());
        let prepared = Prepared::default();
        for (range, trigger_range) in [(0..6, 0..0), (1..3, 0..2), (6..6, 1..2), (6..6, 0..0)] {
            let mut page = Page::default();
            page.push(&listing, range.clone());
            page.push(&trigger_listing, trigger_range.clone());
            prepared.put(NumberOrString::Number(3), page);
            let placeholder = serde_json::to_vec(&response(Vec::new(), 3)).unwrap();
            let (at, page) = prepared.items_at(&placeholder).unwrap();
            assert!(prepared.is_empty(), "taken");
            let chunks: Vec<Bytes> = page.chunks().collect();
            let sent = [&placeholder[..at], &chunks.concat(), &placeholder[at..]].concat();
            let tools: Vec<Tool> = defs[range]
                .iter()
                .chain(&triggers[trigger_range])
                .cloned()
                .collect();
            let expected = serde_json::to_vec(&response(tools, 3)).unwrap();
            assert_eq!(
                String::from_utf8(sent).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
        // Only a placeholder answer to a request with a page has a place.
        let mut page = Page::default();
        page.push(&listing, 0..1);
        prepared.put(NumberOrString::Number(3), page);
        let whole = serde_json::to_vec(&response(defs.clone(), 3)).unwrap();
        assert!(prepared.items_at(&whole).is_none());
        let other = serde_json::to_vec(&response(Vec::new(), 4)).unwrap();
        assert!(prepared.items_at(&other).is_none());
        assert!(!prepared.is_empty());
    }
}
