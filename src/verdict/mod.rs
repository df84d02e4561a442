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

/// PLACEHOLDER for check's baseline (no entries read).
#[derive(Debug, Default)]
pub struct Baseline {
    _entries: (),
}

#[derive(Debug)]
pub struct BaselineError(String);

impl std::fmt::Display for BaselineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Baseline {
    pub fn load(path: &std::path::Path) -> Result<Self, BaselineError> {
        std::fs::read(path).map_err(|e| BaselineError(format!("{}: {e}", path.display())))?;
        Ok(Baseline::default())
    }
}

pub struct Outcome {
    pub exit_code: u8,
}

pub fn evaluate<'a>(
    results: impl IntoIterator<Item = (&'a str, &'a [Check])>,
    _: &Baseline,
) -> Outcome {
    let fails = results
        .into_iter()
        .any(|(_, checks)| checks.iter().any(|c| c.status.fails()));
    Outcome {
        exit_code: u8::from(fails),
    }
}

pub fn write_results(
    dir: &std::path::Path,
    scenario: &str,
    checks: &[Check],
    stdout: &[u8],
    stderr: &[u8],
) -> std::io::Result<std::path::PathBuf> {
    let folder = dir.join(scenario);
    std::fs::create_dir_all(&folder)?;
    std::fs::write(
        folder.join("checks.json"),
        serde_json::to_vec_pretty(checks).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(folder.join("stdout.txt"), stdout)?;
    std::fs::write(folder.join("stderr.txt"), stderr)?;
    Ok(folder)
}

pub fn render_table<'a>(
    results: impl IntoIterator<Item = (&'a str, &'a [Check])>,
    _: &Outcome,
) -> String {
    let mut table = String::new();
    for (scenario, checks) in results {
        let failed: Vec<&Check> = checks.iter().filter(|c| c.status.fails()).collect();
        if failed.is_empty() {
            table.push_str(&format!("{scenario}  PASS\n"));
        }
        for check in failed {
            table.push_str(&format!(
                "{scenario}  FAIL  {}  {}\n",
                check.id,
                check.error_message.as_deref().unwrap_or("")
            ));
        }
    }
    table
}
