//! Hostile but legal behaviour: the knobs that make a server page its lists,
//! answer slowly, and write storms and copies of its notifications, to
//! provoke the bugs MCP clients ship. Every knob is off
//! by default; the flags (`--page-size`, `--cursor-style`, `--list-delay-ms`,
//! ...) and a scenario file set the same keys, and a server with any knob on
//! names each one in its first log line.

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::ListKind;
use crate::notice::{Coalesce, NotifyStyle};
use crate::pagination::{CursorStyle, Paging};

/// The hostile knobs, as the command line and a scenario file spell them
/// (`page_size = 2`, `cursor_style = "repeat-once"`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hostile {
    /// Page every list by this many items.
    pub page_size: Option<NonZeroUsize>,
    /// Page `tools/list` by this many (over `page_size`).
    pub page_size_tools: Option<NonZeroUsize>,
    /// Page `prompts/list` by this many (over `page_size`).
    pub page_size_prompts: Option<NonZeroUsize>,
    /// Page `resources/list` by this many (over `page_size`).
    pub page_size_resources: Option<NonZeroUsize>,
    /// Which `nextCursor`s the paged lists hand out.
    pub cursor_style: CursorStyle,
    /// Delay every `*/list` answer by this many milliseconds.
    pub list_delay_ms: u64,
    /// Delay every `tools/call`, `prompts/get` and `resources/read` answer by
    /// this many milliseconds.
    pub call_delay_ms: u64,
    /// `off`: one `list_changed` per change, in order, with no folding.
    pub coalesce: Coalesce,
    /// Write every notification twice.
    pub duplicate_notifications: bool,
    /// Give every list answer this `ttlMs` caching hint (SEP-2549), whatever
    /// the revision: a long one tempts a client to trust its copy past a
    /// `list_changed`, which must invalidate it.
    pub list_ttl_ms: Option<u64>,
}

impl Hostile {
    /// How the lists are paged.
    pub fn paging(&self) -> Paging {
        let size = |list: Option<NonZeroUsize>| list.or(self.page_size);
        Paging {
            page_sizes: [
                size(self.page_size_tools),
                size(self.page_size_prompts),
                size(self.page_size_resources),
            ],
            style: self.cursor_style,
        }
    }

    /// How the sessions write their notifications.
    pub fn notify_style(&self) -> NotifyStyle {
        NotifyStyle {
            coalesce: self.coalesce,
            duplicates: self.duplicate_notifications,
        }
    }

    /// The delay before a list answer, if any.
    pub fn list_delay(&self) -> Option<Duration> {
        (self.list_delay_ms > 0).then(|| Duration::from_millis(self.list_delay_ms))
    }

    /// The delay before a call, get or read answer, if any.
    pub fn call_delay(&self) -> Option<Duration> {
        (self.call_delay_ms > 0).then(|| Duration::from_millis(self.call_delay_ms))
    }

    /// A table's keys (a scenario's `[hostile]`, a fleet upstream's
    /// `hostile`) over these knobs, key by key, and the result checked as
    /// the flags are.
    pub fn over(self, keys: serde_json::Value) -> Result<Hostile, String> {
        let serde_json::Value::Object(keys) = keys else {
            return Err("expected a table of the hostile keys (page_size, ...)".into());
        };
        let Ok(serde_json::Value::Object(mut merged)) = serde_json::to_value(self) else {
            unreachable!("the knobs serialize to an object");
        };
        merged.extend(keys);
        let hostile: Hostile =
            serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())?;
        hostile.check()?;
        Ok(hostile)
    }

    /// A cursor style without any paged list would change nothing, which is
    /// surely not what was asked for.
    pub fn check(&self) -> Result<(), String> {
        if self.cursor_style != CursorStyle::Normal && !self.paging().is_paged() {
            return Err(format!(
                "cursor_style {} needs a page size (page_size or page_size_<list>)",
                self.cursor_style.as_str()
            ));
        }
        Ok(())
    }

    /// Every knob that is not the default, as the flags spell them
    /// (`page-size=2 cursor-style=repeat-once list-delay-ms=50`); `None` for a
    /// normal server.
    pub fn describe(&self) -> Option<String> {
        let mut text = String::new();
        let mut knob = |name: &str, value: &dyn std::fmt::Display| {
            let space = if text.is_empty() { "" } else { " " };
            let _ = write!(text, "{space}{name}={value}");
        };
        if let Some(size) = self.page_size {
            knob("page-size", &size);
        }
        for (list, size) in [
            (ListKind::Tools, self.page_size_tools),
            (ListKind::Prompts, self.page_size_prompts),
            (ListKind::Resources, self.page_size_resources),
        ] {
            if let Some(size) = size {
                knob(&format!("page-size-{list}"), &size);
            }
        }
        if self.cursor_style != CursorStyle::Normal {
            knob("cursor-style", &self.cursor_style.as_str());
        }
        if self.list_delay_ms > 0 {
            knob("list-delay-ms", &self.list_delay_ms);
        }
        if self.call_delay_ms > 0 {
            knob("call-delay-ms", &self.call_delay_ms);
        }
        if self.coalesce != Coalesce::On {
            knob("coalesce", &self.coalesce.as_str());
        }
        if let Some(ttl) = self.list_ttl_ms {
            knob("list-ttl-ms", &ttl);
        }
        if self.duplicate_notifications {
            let space = if text.is_empty() { "" } else { " " };
            let _ = write!(text, "{space}duplicate-notifications");
        }
        (!text.is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_normal_server() {
        let normal = Hostile::default();
        assert_eq!(normal.describe(), None);
        assert!(!normal.paging().is_paged());
        assert_eq!((normal.list_delay(), normal.call_delay()), (None, None));
        assert_eq!(normal.check(), Ok(()));
    }

    #[test]
    fn a_list_page_size_overrides_the_common_one() {
        let hostile = Hostile {
            page_size: NonZeroUsize::new(5),
            page_size_prompts: NonZeroUsize::new(2),
            ..Hostile::default()
        };
        let paging = hostile.paging();
        assert_eq!(paging.page_size(ListKind::Tools), NonZeroUsize::new(5));
        assert_eq!(paging.page_size(ListKind::Prompts), NonZeroUsize::new(2));
        assert_eq!(paging.page_size(ListKind::Resources), NonZeroUsize::new(5));
    }

    #[test]
    fn every_knob_is_named() {
        let hostile = Hostile {
            page_size: NonZeroUsize::new(2),
            page_size_resources: NonZeroUsize::new(3),
            cursor_style: CursorStyle::RepeatOnce,
            list_delay_ms: 50,
            call_delay_ms: 7,
            coalesce: Coalesce::Off,
            duplicate_notifications: true,
            list_ttl_ms: Some(60_000),
            ..Hostile::default()
        };
        assert_eq!(
            hostile.describe().unwrap(),
            "page-size=2 page-size-resources=3 cursor-style=repeat-once list-delay-ms=50 call-delay-ms=7 coalesce=off list-ttl-ms=60000 duplicate-notifications"
        );
        let copies = Hostile {
            duplicate_notifications: true,
            ..Hostile::default()
        };
        assert_eq!(copies.describe().unwrap(), "duplicate-notifications");
    }

    #[test]
    fn a_cursor_style_needs_a_page_size() {
        let hostile = Hostile {
            cursor_style: CursorStyle::EmptyOnce,
            ..Hostile::default()
        };
        assert!(hostile.check().unwrap_err().contains("empty-once"));
    }

    #[test]
    fn the_scenario_file_keys() {
        let hostile: Hostile = serde_json::from_value(serde_json::json!({
            "page_size_tools": 2,
            "cursor_style": "empty-once",
            "list_delay_ms": 10,
            "coalesce": "off",
            "duplicate_notifications": true,
        }))
        .unwrap();
        assert_eq!(hostile.page_size_tools, NonZeroUsize::new(2));
        assert_eq!(hostile.cursor_style, CursorStyle::EmptyOnce);
        assert_eq!(hostile.list_delay_ms, 10);
        assert_eq!(
            hostile.notify_style(),
            NotifyStyle {
                coalesce: Coalesce::Off,
                duplicates: true,
            }
        );
        for bad in [
            serde_json::json!({ "page_size": 0 }),
            serde_json::json!({ "cursor_style": "sideways" }),
            serde_json::json!({ "page_sise": 2 }),
            serde_json::json!({ "coalesce": "sometimes" }),
        ] {
            assert!(
                serde_json::from_value::<Hostile>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
