//! The resource catalog: resource number `k` at revision `r` maps to one
//! listing and one pure `resources/read` answer.
//!
//! Resource `k` has the URI `dynamic://resources/{k}`, the name `resource{k}`
//! and `text/plain` contents that name `k` and its revision. An update raises
//! the revision: the listing stays as it was, the contents change, and
//! subscribers are told with `notifications/resources/updated`.

use rmcp::model::{ReadResourceResult, Resource, ResourceContents};

use crate::catalog::{Entry, ItemKind, ListKind, Number, Resources, Revision, canonical_number};

/// What every resource URI starts with.
pub const URI_PREFIX: &str = "dynamic://resources/";

impl ItemKind for Resources {
    type Definition = Resource;
    const LIST: ListKind = ListKind::Resources;

    fn definition(entry: Entry) -> Resource {
        definition(entry.number)
    }

    fn key(k: Number) -> String {
        format!("{URI_PREFIX}{k}")
    }

    fn number(key: &str) -> Option<Number> {
        canonical_number(key.strip_prefix(URI_PREFIX)?)
    }

    /// A resource is named by its URI, and has a name as well.
    const KEY_FIELD: &'static str = "uri";
    fn display_name(k: Number) -> Option<String> {
        Some(name(k))
    }
}

/// The name of resource `k`.
pub fn name(k: Number) -> String {
    format!("resource{k}")
}

/// How resource `k` is listed (the same at every revision).
pub fn definition(k: Number) -> Resource {
    Resource::new(Resources::key(k), name(k))
        .with_description(format!("Resource number {k}; its text names its revision."))
        .with_mime_type("text/plain")
}

/// The answer to `resources/read` for resource `k` at revision `r`.
pub fn read(k: Number, r: Revision) -> ReadResourceResult {
    let text = format!("Resource {k}, revision {r}.");
    ReadResourceResult::new(vec![ResourceContents::text(text, Resources::key(k))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for k in 1..=100 {
            assert_eq!(Resources::number(&Resources::key(k)), Some(k));
        }
        for bad in [
            "dynamic://resources/",
            "dynamic://resources/0",
            "dynamic://resources/01",
            "dynamic://resources/1/x",
            "file:///etc/passwd",
        ] {
            assert_eq!(Resources::number(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_and_contents() {
        let listed = serde_json::to_value(definition(3)).unwrap();
        assert_eq!(listed["uri"], "dynamic://resources/3");
        assert_eq!(listed["name"], "resource3");
        assert_eq!(listed["mimeType"], "text/plain");
        let read = serde_json::to_value(read(3, 2)).unwrap();
        assert_eq!(read["contents"][0]["text"], "Resource 3, revision 2.");
        assert_eq!(read["contents"][0]["uri"], "dynamic://resources/3");
    }
}
