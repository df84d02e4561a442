//! The upstreams behind the gateway, as the probe reaches them: through a
//! control endpoint, `POST /changes` makes a change on one upstream and
//! `GET /report` shows what the gateway did about it upstream (when it
//! re-listed, which calls it forwarded).
//!
//! An upstream is either a single server with its own control endpoint, or a
//! fleet's upstream, reached through the fleet's one control endpoint with
//! `"upstream": NAME` in each request.

use std::time::Duration;

use serde_json::{Value, json};

/// How long one control request may take: a change is applied in
/// microseconds, so only a stuck endpoint reaches it.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// One upstream the gateway serves from.
#[derive(Clone)]
pub struct Upstream {
    /// Its name: in a fleet, the name its control requests carry.
    pub name: String,
    /// The control endpoint's base URL, without a trailing `/`.
    control: String,
    /// A fleet's upstream: requests carry `"upstream": name`.
    fleet: bool,
    http: reqwest::Client,
}

/// What the gateway did on an upstream, summed over its sessions there
/// (a gateway may hold one session per upstream, or one per request).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// `tools/list` requests served.
    pub lists: u64,
    /// `tools/call` requests served.
    pub calls: u64,
    /// Calls of a tool that was gone or changed (the report's `stale_calls`).
    pub stale_calls: u64,
    /// `initialize` requests: sessions the gateway opened.
    pub sessions: u64,
}

impl Upstream {
    /// An upstream reached at `control`; `fleet` names it in each request.
    pub fn new(name: String, control: &str, fleet: bool, http: reqwest::Client) -> Self {
        Self {
            name,
            control: control.trim_end_matches('/').to_owned(),
            fleet,
            http,
        }
    }

    /// Apply one change (`add_tool`, `remove_tool`, `change_tool`, ...) to
    /// this upstream's tools, `name` naming the tool where it applies. Returns
    /// the tools list's version after it and the names it lists then.
    pub async fn change(
        &self,
        change: &str,
        name: Option<&str>,
    ) -> Result<(u64, Vec<String>), String> {
        let mut body = json!({ "change": change });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        if self.fleet {
            body["upstream"] = json!(self.name);
        }
        let url = format!("{}/changes", self.control);
        let answer = self
            .request(self.http.post(&url).body(body.to_string()))
            .await?;
        let version = answer["tools"]["version"]
            .as_u64()
            .ok_or_else(|| format!("POST {url}: no tools version in {answer}"))?;
        Ok((version, item_names(&answer["tools"]["items"])))
    }

    /// The tools this upstream lists now, by name.
    pub async fn tool_names(&self) -> Result<Vec<String>, String> {
        let state = self.request(self.http.get(self.url("state"))).await?;
        Ok(item_names(&self.own(&state)["tools"]["items"]))
    }

    /// This upstream's client report as it stands (its part of a fleet's).
    pub async fn report(&self) -> Result<Value, String> {
        let report = self.request(self.http.get(self.url("report"))).await?;
        Ok(self.own(&report).clone())
    }

    fn url(&self, path: &str) -> String {
        match self.fleet {
            true => format!("{}/{path}?upstream={}", self.control, self.name),
            false => format!("{}/{path}", self.control),
        }
    }

    /// This upstream's part of a document: a fleet's documents hold each
    /// upstream under `upstreams`, a single server's is its own.
    fn own<'a>(&self, document: &'a Value) -> &'a Value {
        match &document["upstreams"] {
            Value::Object(by_name) => by_name.get(&self.name).unwrap_or(&Value::Null),
            Value::Array(all) => all
                .iter()
                .find(|entry| entry["name"] == self.name.as_str())
                .unwrap_or(&Value::Null),
            _ => document,
        }
    }

    async fn request(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request
            .timeout(CONTROL_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("control endpoint of {}: {e}", self.name))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("control endpoint of {}: {e}", self.name))?;
        if !status.is_success() {
            return Err(format!(
                "control endpoint of {} answered {status}: {text}",
                self.name
            ));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("control endpoint of {}: not JSON ({e}): {text}", self.name))
    }
}

/// The names of a list's `items`, as the control endpoint gives them.
fn item_names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["name"].as_str().map(str::to_owned))
        .collect()
}

/// The gateway's traffic in one upstream's report.
pub fn traffic(report: &Value) -> Traffic {
    let mut traffic = Traffic::default();
    for session in sessions(report) {
        let count = |method: &str| session["requests"][method].as_u64().unwrap_or(0);
        traffic.lists += count("tools/list");
        traffic.calls += count("tools/call");
        traffic.sessions += count("initialize");
        traffic.stale_calls += session["stale_calls"].as_array().map_or(0, |c| c.len()) as u64;
    }
    traffic
}

/// How long after the change to the tools at `version` the upstream first
/// served page 1 of its tools to one of its sessions (the report's
/// `relisted_ms` against the change's `at_ms`), in milliseconds.
pub fn relisted_after(report: &Value, version: u64) -> Option<u64> {
    let is_it =
        |change: &&Value| change["list"] == "tools" && change["version"].as_u64() == Some(version);
    let at = report["changes"].as_array()?.iter().find(is_it)?["at_ms"].as_u64()?;
    sessions(report)
        .flat_map(|session| session["changes"].as_array().into_iter().flatten())
        .filter(is_it)
        .filter_map(|change| change["relisted_ms"].as_u64())
        .min()
        .map(|relisted| relisted.saturating_sub(at))
}

fn sessions(report: &Value) -> impl Iterator<Item = &Value> {
    report["sessions"].as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({"changes": [{"list": "tools", "version": 2, "at_ms": 4},
                        {"list": "tools", "version": 3, "at_ms": 8}],
               "sessions": [
            {"requests": {"tools/list": 2, "tools/call": 1}, "stale_calls": [{}],
             "changes": [{"list": "tools", "version": 2, "relisted_ms": 10},
                         {"list": "tools", "version": 3, "relisted_ms": null}]},
            {"requests": {"tools/list": 1}, "stale_calls": [],
             "changes": [{"list": "tools", "version": 2, "relisted_ms": 7}]},
        ]})
    }

    #[test]
    fn traffic_sums_the_sessions() {
        assert_eq!(
            traffic(&report()),
            Traffic {
                lists: 3,
                calls: 1,
                stale_calls: 1,
                sessions: 0
            }
        );
    }

    #[test]
    fn relisted_after_takes_the_first_relist_of_that_version() {
        assert_eq!(relisted_after(&report(), 2), Some(3));
        assert_eq!(relisted_after(&report(), 3), None);
        assert_eq!(relisted_after(&report(), 4), None);
    }
}
