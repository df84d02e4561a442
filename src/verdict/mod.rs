//! PLACEHOLDER until the `check` branch's `src/verdict/` is merged: the part
//! of its API the probe uses, so the probe builds meanwhile.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failure,
    Warning,
    Skipped,
    Info,
}

impl Status {
    pub fn fails(self) -> bool {
        matches!(self, Status::Failure | Status::Warning)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SpecReference {
    pub id: String,
    pub url: String,
}

impl SpecReference {
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: Status,
    pub timestamp: String,
    pub spec_references: Vec<SpecReference>,
    pub details: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl Check {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        status: Status,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            status,
            timestamp: String::new(),
            spec_references: Vec::new(),
            details: Map::new(),
            error_message: None,
        }
    }
    pub fn spec(mut self, reference: SpecReference) -> Self {
        self.spec_references.push(reference);
        self
    }
    pub fn details(mut self, details: Value) -> Self {
        if let Value::Object(map) = details {
            self.details = map;
        }
        self
    }
    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }
}

/// PLACEHOLDER: write each scenario's checks.json, print a table, the exit code.
pub fn conclude(
    dir: &std::path::Path,
    results: &[(&str, Vec<Check>, String)],
    _baseline: Option<&std::path::Path>,
) -> Result<u8, String> {
    let mut code = 0;
    for (scenario, checks, stderr) in results {
        let folder = dir.join(scenario);
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        let json = serde_json::to_string_pretty(checks).map_err(|e| e.to_string())?;
        std::fs::write(folder.join("checks.json"), json).map_err(|e| e.to_string())?;
        std::fs::write(folder.join("stdout.txt"), "").map_err(|e| e.to_string())?;
        std::fs::write(folder.join("stderr.txt"), stderr).map_err(|e| e.to_string())?;
        let failed: Vec<&Check> = checks.iter().filter(|c| c.status.fails()).collect();
        if failed.is_empty() {
            println!("{scenario}\tPASS");
        }
        for check in failed {
            code = 1;
            println!(
                "{scenario}\tFAIL\t{}\t{}",
                check.id,
                check.error_message.as_deref().unwrap_or("")
            );
        }
    }
    Ok(code)
}
