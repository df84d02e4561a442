//! Pages of the list methods (`tools/list`, `prompts/list`,
//! `resources/list`): which slice of a list a request gets, its `nextCursor`,
//! and which cursors are refused and why. Pure: no actors, no I/O, no clock.
//!
//! # Unpaged (the default)
//!
//! Every list is answered whole, on one page without a `nextCursor`, so no
//! cursor was ever issued and any cursor a client sends is one the server
//! cannot honour. The spec's pagination rules say an invalid cursor SHOULD get
//! -32602 Invalid params; answering with the first page instead would hand a
//! client that resumes a listing duplicates it cannot detect.
//!
//! # Paged (`--page-size`)
//!
//! A cursor is opaque to clients (lowercase hex) and carries the list, the
//! list's version and the offset of the page it starts. So the server needs no
//! memory to resume a listing, and can say exactly why it refuses a cursor:
//! one from an older version of the list (the list changed in between, and
//! resuming would skip or repeat items), one for another list, or one it never
//! issued. Each is -32602 with a message that says which.
//!
//! [`CursorStyle`] provokes the pagination bugs clients ship:
//! - `empty-once`: the first page's `nextCursor` is `""`. It is a valid cursor
//!   (under 2026-07-28 explicitly so) and must not end the listing: `""` means
//!   the second page of the list's *current* version. It carries no version, so
//!   it is never refused as stale.
//! - `repeat-once`: the first time the server answers a given cursor, that
//!   page's `nextCursor` is the same cursor again (a non-advancing cursor, which
//!   a correct client detects); the next request with it advances normally. The
//!   server remembers which cursors it has repeated for each list's current
//!   version only, and at most [`MAX_REPEATS_REMEMBERED`] of them.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::ops::Range;

use rmcp::ErrorData as McpError;
use rmcp::model::{ClientRequest, PaginatedRequestParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::catalog::ListKind;

/// How many repeated cursors the server remembers per list (for the list's
/// current version). Past that, a cursor is answered normally: a listing of
/// more pages than this is not repeated beyond its first pages.
pub const MAX_REPEATS_REMEMBERED: usize = 4096;

/// Which `nextCursor`s a paged list hands out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CursorStyle {
    /// A fresh cursor for every next page.
    #[default]
    Normal,
    /// The first page's `nextCursor` is `""`, which continues at page 2.
    EmptyOnce,
    /// Each cursor, the first time it is answered, comes back as its own
    /// page's `nextCursor`.
    RepeatOnce,
}

impl CursorStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            CursorStyle::Normal => "normal",
            CursorStyle::EmptyOnce => "empty-once",
            CursorStyle::RepeatOnce => "repeat-once",
        }
    }
}

/// How each list is paged: a page size per list (`None`: one page, as by
/// default) and the cursor style of the paged ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paging {
    pub page_sizes: [Option<NonZeroUsize>; 3],
    pub style: CursorStyle,
}

impl Paging {
    pub fn page_size(&self, list: ListKind) -> Option<NonZeroUsize> {
        self.page_sizes[list.index()]
    }

    /// Whether any list is paged.
    pub fn is_paged(&self) -> bool {
        self.page_sizes.iter().any(Option::is_some)
    }
}

/// One page served, as an observer records it: which list at which version,
/// the page's index (0 for the first) among `total` pages, and the cursor the
/// request asked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub list: ListKind,
    pub version: u64,
    pub index: usize,
    pub total: usize,
    pub cursor: Option<String>,
}

/// What to answer a list request with: the items in `range`, and
/// `next_cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub range: Range<usize>,
    pub next_cursor: Option<String>,
    pub page: Page,
}

/// Why a cursor was refused. Each is -32602 Invalid params.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// The list is not paged, so no cursor was ever issued for it. The
    /// message is the one a default server has always answered with.
    #[error("Invalid cursor: {cursor:?} was not issued by this server")]
    Unpaged { cursor: String },
    /// Not a cursor this server issued for the list's current version.
    #[error("Invalid cursor: {cursor:?} was not issued by this server for the {list} list")]
    NotIssued { list: ListKind, cursor: String },
    /// A cursor the server issued for another list.
    #[error(
        "Invalid cursor: {cursor:?} was issued for the {issued_for} list, not the {list} list; list {list} from the start"
    )]
    OtherList {
        list: ListKind,
        issued_for: ListKind,
        cursor: String,
    },
    /// A cursor from an older version of the list: resuming would skip or
    /// repeat items.
    #[error(
        "Invalid cursor: the {list} list changed since this cursor was issued (version {issued}, now {now}); list again from the start"
    )]
    Stale {
        list: ListKind,
        issued: u64,
        now: u64,
        cursor: String,
    },
    /// `""` (with `empty-once`) when the list's current version has one page.
    #[error(
        "Invalid cursor: \"\" continues at page 2 of the {list} list, which has one page now (version {now}); list again from the start"
    )]
    EmptyPastEnd { list: ListKind, now: u64 },
}

impl CursorError {
    /// The refused cursor.
    pub fn cursor(&self) -> &str {
        match self {
            CursorError::Unpaged { cursor }
            | CursorError::NotIssued { cursor, .. }
            | CursorError::OtherList { cursor, .. }
            | CursorError::Stale { cursor, .. } => cursor,
            CursorError::EmptyPastEnd { .. } => "",
        }
    }

    /// A short name for why, for logs, observers and the error's data.
    pub fn reason(&self) -> &'static str {
        match self {
            CursorError::Unpaged { .. } | CursorError::NotIssued { .. } => "not-issued",
            CursorError::OtherList { .. } => "other-list",
            CursorError::Stale { .. } => "stale",
            CursorError::EmptyPastEnd { .. } => "past-end",
        }
    }
}

impl From<CursorError> for McpError {
    fn from(error: CursorError) -> Self {
        // A default server's answer stays what it always was: no data.
        let data = match &error {
            CursorError::Unpaged { .. } => None,
            _ => Some(json!({ "cursor": error.cursor(), "reason": error.reason() })),
        };
        McpError::invalid_params(error.to_string(), data)
    }
}

/// Why a list request's params must be refused although rmcp took the
/// request: `None` if they are fine.
///
/// rmcp reads a list request's `params` through a flattened `Option`, which
/// turns any error into "no params": `{"cursor": 5}`, `{"cursor": {"a": 1}}`
/// or `{"cursor": ["<a cursor>"]}` would be served page 1 as if no cursor
/// were sent, and a client resuming a walk would get duplicates (issue 24).
/// `raw` is the one JSON-RPC message `request` was read from; it is read
/// again only for a list request that rmcp found without params. A `null`
/// cursor is no cursor.
pub fn misread_list_params(request: &ClientRequest, raw: &[u8]) -> Option<McpError> {
    let read_none = match request {
        ClientRequest::ListToolsRequest(r) => r.params.is_none(),
        ClientRequest::ListPromptsRequest(r) => r.params.is_none(),
        ClientRequest::ListResourcesRequest(r) => r.params.is_none(),
        ClientRequest::ListResourceTemplatesRequest(r) => r.params.is_none(),
        _ => false,
    };
    if !read_none {
        return None;
    }
    #[derive(Deserialize)]
    struct Message {
        params: Option<serde_json::Value>,
    }
    let params = serde_json::from_slice::<Message>(raw).ok()?.params?;
    let error = serde_json::from_value::<PaginatedRequestParams>(params).err()?;
    Some(McpError::invalid_params(
        format!("Invalid params: {error} (a list's params hold an optional string cursor)"),
        None,
    ))
}

/// Pages lists by one [`Paging`], remembering only what `repeat-once` needs.
#[derive(Debug, Default)]
pub struct Pager {
    paging: Paging,
    repeated: [Repeated; 3],
}

/// The cursors of one list's current version already answered once.
#[derive(Debug, Default)]
struct Repeated {
    version: u64,
    offsets: HashSet<usize>,
}

impl Repeated {
    /// Record that the page at `offset` of `version` is being answered;
    /// true the first time (so its cursor repeats).
    fn first_time(&mut self, version: u64, offset: usize) -> bool {
        if self.version != version {
            // Cursors of other versions are refused as stale: forget them.
            self.version = version;
            self.offsets.clear();
        }
        if self.offsets.len() >= MAX_REPEATS_REMEMBERED {
            return false;
        }
        self.offsets.insert(offset)
    }
}

impl Pager {
    pub fn new(paging: Paging) -> Self {
        Self {
            paging,
            repeated: Default::default(),
        }
    }

    /// The page a request for `list` (at `version`, `len` items long) with
    /// `cursor` gets, or why the cursor is refused.
    pub fn page(
        &mut self,
        list: ListKind,
        version: u64,
        len: usize,
        cursor: Option<&str>,
    ) -> Result<Served, CursorError> {
        let page = |index, total| Page {
            list,
            version,
            index,
            total,
            cursor: cursor.map(str::to_owned),
        };
        let Some(size) = self.paging.page_size(list).map(NonZeroUsize::get) else {
            if let Some(cursor) = cursor {
                return Err(CursorError::Unpaged {
                    cursor: cursor.to_owned(),
                });
            }
            return Ok(Served {
                range: 0..len,
                next_cursor: None,
                page: page(0, 1),
            });
        };
        let total = len.div_ceil(size).max(1);
        let index = match cursor {
            None => 0,
            Some("") if self.paging.style == CursorStyle::EmptyOnce => {
                if total < 2 {
                    return Err(CursorError::EmptyPastEnd { list, now: version });
                }
                1
            }
            Some(text) => {
                let issued = Cursor::decode(text).ok_or_else(|| CursorError::NotIssued {
                    list,
                    cursor: text.to_owned(),
                })?;
                issued.check(list, version, size, len, text)?
            }
        };
        let start = index * size;
        let range = start..len.min(start + size);
        let next = (index + 1 < total).then(|| {
            Cursor {
                list,
                version,
                offset: (index + 1) * size,
            }
            .encode()
        });
        let next_cursor = match (self.paging.style, cursor) {
            (CursorStyle::EmptyOnce, None) if next.is_some() => Some(String::new()),
            (CursorStyle::RepeatOnce, Some(asked))
                if self.repeated[list.index()].first_time(version, start) =>
            {
                Some(asked.to_owned())
            }
            _ => next,
        };
        Ok(Served {
            range,
            next_cursor,
            page: page(index, total),
        })
    }
}

/// What a cursor carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    list: ListKind,
    version: u64,
    offset: usize,
}

impl Cursor {
    /// `tools/3/200` as lowercase hex: opaque, and plain ASCII in any
    /// transport.
    fn encode(self) -> String {
        let text = format!("{}/{}/{}", self.list, self.version, self.offset);
        text.bytes().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The cursor `text` is, if this server could have issued it: exactly the
    /// encoding [`Cursor::encode`] gives, nothing else that decodes alike.
    fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut parts = plain.split('/');
        let list = match parts.next()? {
            "tools" => ListKind::Tools,
            "prompts" => ListKind::Prompts,
            "resources" => ListKind::Resources,
            _ => return None,
        };
        let version = parts.next()?.parse().ok()?;
        let offset = parts.next()?.parse().ok()?;
        let cursor = Cursor {
            list,
            version,
            offset,
        };
        (parts.next().is_none() && cursor.encode() == text).then_some(cursor)
    }

    /// The index of the page this cursor starts, if it is valid for `list`
    /// at `version` paged by `size` over `len` items.
    fn check(
        self,
        list: ListKind,
        version: u64,
        size: usize,
        len: usize,
        text: &str,
    ) -> Result<usize, CursorError> {
        let cursor = text.to_owned();
        if self.list != list {
            return Err(CursorError::OtherList {
                list,
                issued_for: self.list,
                cursor,
            });
        }
        if self.version < version {
            return Err(CursorError::Stale {
                list,
                issued: self.version,
                now: version,
                cursor,
            });
        }
        // A later version, the first page (never given a cursor), an offset
        // between pages or past the end: none was ever issued.
        if self.version > version
            || self.offset == 0
            || !self.offset.is_multiple_of(size)
            || self.offset >= len
        {
            return Err(CursorError::NotIssued { list, cursor });
        }
        Ok(self.offset / size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListKind::{Prompts, Resources, Tools};

    fn pager(size: usize, style: CursorStyle) -> Pager {
        let size = NonZeroUsize::new(size);
        Pager::new(Paging {
            page_sizes: [size; 3],
            style,
        })
    }

    /// Every page of `list` (version `version`, `len` items), following
    /// `nextCursor` until there is none; panics past 100 requests.
    fn walk(pager: &mut Pager, list: ListKind, version: u64, len: usize) -> Vec<Served> {
        let mut served = vec![pager.page(list, version, len, None).unwrap()];
        while let Some(next) = served.last().unwrap().next_cursor.clone() {
            assert!(served.len() < 100, "a listing that never ends");
            served.push(pager.page(list, version, len, Some(&next)).unwrap());
        }
        served
    }

    fn ranges(served: &[Served]) -> Vec<Range<usize>> {
        served.iter().map(|s| s.range.clone()).collect()
    }

    #[test]
    fn unpaged_serves_everything_and_refuses_any_cursor_as_before() {
        let mut pager = Pager::default();
        let served = pager.page(Tools, 4, 7, None).unwrap();
        assert_eq!(served.range, 0..7);
        assert_eq!(served.next_cursor, None);
        assert_eq!((served.page.index, served.page.total), (0, 1));
        for cursor in [
            "bogus",
            "",
            &Cursor {
                list: Tools,
                version: 4,
                offset: 2,
            }
            .encode(),
        ] {
            let error = pager.page(Tools, 4, 7, Some(cursor)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("Invalid cursor: {cursor:?} was not issued by this server")
            );
            let error = McpError::from(error);
            assert_eq!(error.code.0, -32602);
            assert_eq!(error.data, None, "the default answer, byte for byte");
        }
    }

    #[test]
    fn seven_items_by_two_are_four_pages_in_order_for_every_list() {
        let mut pager = pager(2, CursorStyle::Normal);
        for list in ListKind::ALL {
            let served = walk(&mut pager, list, 1, 7);
            assert_eq!(ranges(&served), [0..2, 2..4, 4..6, 6..7]);
            let pages: Vec<_> = served
                .iter()
                .map(|s| (s.page.index, s.page.total))
                .collect();
            assert_eq!(pages, [(0, 4), (1, 4), (2, 4), (3, 4)]);
            assert_eq!(served[1].page.cursor, served[0].next_cursor);
            assert!(
                served
                    .iter()
                    .all(|s| s.page.list == list && s.page.version == 1)
            );
        }
    }

    #[test]
    fn a_list_that_fits_one_page_has_no_cursor() {
        let mut pager = pager(10, CursorStyle::EmptyOnce);
        for len in [0, 1, 10] {
            let served = pager.page(Tools, 1, len, None).unwrap();
            assert_eq!((served.range, served.next_cursor), (0..len, None));
            assert_eq!(served.page.total, 1);
        }
    }

    #[test]
    fn per_list_page_sizes() {
        let mut pager = Pager::new(Paging {
            page_sizes: [NonZeroUsize::new(3), None, NonZeroUsize::new(1)],
            style: CursorStyle::Normal,
        });
        assert_eq!(ranges(&walk(&mut pager, Tools, 1, 7)), [0..3, 3..6, 6..7]);
        assert_eq!(ranges(&walk(&mut pager, Prompts, 1, 7)), vec![0..7]);
        assert_eq!(ranges(&walk(&mut pager, Resources, 1, 2)), [0..1, 1..2]);
    }

    #[test]
    fn a_cursor_from_an_older_version_is_stale_and_says_so() {
        let mut pager = pager(2, CursorStyle::Normal);
        let first = pager.page(Tools, 3, 7, None).unwrap();
        let cursor = first.next_cursor.unwrap();
        let error = pager.page(Tools, 4, 8, Some(&cursor)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid cursor: the tools list changed since this cursor was issued (version 3, now 4); list again from the start"
        );
        assert_eq!(error.reason(), "stale");
        let error = McpError::from(error);
        assert_eq!(error.code.0, -32602);
        assert_eq!(
            error.data,
            Some(json!({ "cursor": cursor, "reason": "stale" }))
        );
    }

    #[test]
    fn cursors_never_issued_are_refused() {
        let mut pager = pager(2, CursorStyle::Normal);
        let encoded = |version, offset| {
            Cursor {
                list: Tools,
                version,
                offset,
            }
            .encode()
        };
        let never = [
            "bogus".to_owned(),
            "".to_owned(),
            "746f6f6c732f312f32".to_uppercase(), // tools/1/2, but not as issued
            "7".to_owned(),
            "zz".to_owned(),
            encoded(2, 2),                       // a later version
            encoded(1, 0),                       // the first page has no cursor
            encoded(1, 3),                       // between pages
            encoded(1, 8),                       // past the end
            "746f6f6c732f312f322f33".to_owned(), // tools/1/2/3
            "746f6f6c732f2b312f32".to_owned(),   // tools/+1/2
        ];
        for cursor in never {
            let error = pager.page(Tools, 1, 7, Some(&cursor)).unwrap_err();
            assert_eq!(
                error,
                CursorError::NotIssued {
                    list: Tools,
                    cursor: cursor.clone()
                },
                "{cursor:?}"
            );
        }
        assert_eq!(encoded(1, 2), "746f6f6c732f312f32");
        assert_eq!(
            pager.page(Tools, 1, 7, Some(&encoded(1, 2))).unwrap().range,
            2..4
        );
    }

    #[test]
    fn a_cursor_for_another_list_is_refused() {
        let mut pager = pager(2, CursorStyle::Normal);
        let cursor = pager
            .page(Prompts, 1, 7, None)
            .unwrap()
            .next_cursor
            .unwrap();
        let error = pager.page(Tools, 1, 7, Some(&cursor)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "Invalid cursor: {cursor:?} was issued for the prompts list, not the tools list; list tools from the start"
            )
        );
        assert_eq!(error.reason(), "other-list");
    }

    #[test]
    fn empty_once_hands_out_an_empty_cursor_that_continues_at_page_two() {
        let mut pager = pager(2, CursorStyle::EmptyOnce);
        let served = walk(&mut pager, Tools, 1, 7);
        assert_eq!(ranges(&served), [0..2, 2..4, 4..6, 6..7]);
        assert_eq!(served[0].next_cursor.as_deref(), Some(""));
        assert_eq!(served[1].page.cursor.as_deref(), Some(""));
        assert!(
            served[1..]
                .iter()
                .all(|s| s.next_cursor.as_deref() != Some(""))
        );
        // "" is the second page of the current version, whatever came before.
        let later = pager.page(Tools, 5, 9, Some("")).unwrap();
        assert_eq!((later.range, later.page.version), (2..4, 5));
        let error = pager.page(Tools, 6, 2, Some("")).unwrap_err();
        assert_eq!(
            error,
            CursorError::EmptyPastEnd {
                list: Tools,
                now: 6
            }
        );
        assert_eq!(error.cursor(), "");
        // Without empty-once, "" was never issued.
        let mut normal = self::pager(2, CursorStyle::Normal);
        assert_eq!(
            normal.page(Tools, 1, 7, Some("")).unwrap_err().reason(),
            "not-issued"
        );
    }

    #[test]
    fn repeat_once_repeats_each_cursor_once_then_advances() {
        let mut pager = pager(2, CursorStyle::RepeatOnce);
        let served = walk(&mut pager, Tools, 1, 7);
        // Page 1, then pages 2, 3 and 4 each twice: the first answer to a
        // cursor names the same cursor again.
        assert_eq!(ranges(&served), [0..2, 2..4, 2..4, 4..6, 4..6, 6..7, 6..7]);
        for pair in served[1..].chunks(2) {
            assert_eq!(pair[0].next_cursor, pair[0].page.cursor, "non-advancing");
            assert_eq!(pair[1].page.cursor, pair[0].page.cursor);
            assert_ne!(pair[1].next_cursor, pair[1].page.cursor, "advances");
        }
        assert_eq!(served.last().unwrap().next_cursor, None);
        // Once repeated, a cursor advances for every later listing.
        let again = walk(&mut pager, Tools, 1, 7);
        assert_eq!(ranges(&again), [0..2, 2..4, 4..6, 6..7]);
        // A new version repeats again.
        let fresh = walk(&mut pager, Tools, 2, 7);
        assert_eq!(fresh.len(), 7);
    }

    #[test]
    fn repeat_once_remembers_a_bounded_number_of_cursors() {
        let len = MAX_REPEATS_REMEMBERED + 10;
        let mut pager = pager(1, CursorStyle::RepeatOnce);
        let mut repeats = 0;
        let mut cursor = pager.page(Tools, 1, len, None).unwrap().next_cursor;
        while let Some(asked) = cursor {
            let served = pager.page(Tools, 1, len, Some(&asked)).unwrap();
            repeats += usize::from(served.next_cursor.as_deref() == Some(&asked));
            cursor = served.next_cursor;
        }
        assert_eq!(repeats, MAX_REPEATS_REMEMBERED);
        assert!(pager.repeated[Tools.index()].offsets.len() <= MAX_REPEATS_REMEMBERED);
    }

    /// The cursor inputs, fuzzed: whatever a list request's params hold,
    /// either rmcp reads the cursor the client sent (a string, or none when
    /// there is none or it is `null`), or the request is refused with
    /// -32602; never page 1 for a cursor that was sent.
    mod cursor_fuzz {
        use proptest::prelude::*;
        use rmcp::model::ClientJsonRpcMessage;
        use serde_json::{Value, json};

        use super::super::misread_list_params;

        fn param() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(2, 8, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::vec(
                        (
                            prop_oneof![
                                Just("cursor".to_owned()),
                                Just("_meta".to_owned()),
                                "[a-z]{1,4}"
                            ],
                            inner
                        ),
                        0..3
                    )
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(crate::fuzzing::config(512))]

            #[test]
            fn a_sent_cursor_is_read_or_refused(
                method in prop::sample::select(vec!["tools/list", "prompts/list", "resources/list"]),
                fields in prop::collection::vec((prop_oneof![Just("cursor".to_owned()), Just("_meta".to_owned()), "[a-z]{1,4}"], param()), 0..3),
            ) {
                let params = Value::Object(fields.into_iter().collect());
                let raw = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
                let Ok(ClientJsonRpcMessage::Request(request)) = serde_json::from_str::<ClientJsonRpcMessage>(&raw) else {
                    return Ok(()); // refused by rmcp as a whole
                };
                if let Some(error) = misread_list_params(&request.request, raw.as_bytes()) {
                    prop_assert_eq!(error.code.0, -32602);
                    return Ok(());
                }
                let read = serde_json::to_value(&request.request).unwrap();
                let sent = params.get("cursor").filter(|c| !c.is_null());
                let got = read.get("params").and_then(|p| p.get("cursor"));
                prop_assert_eq!(sent, got, "{}", raw);
            }
        }
    }
}
