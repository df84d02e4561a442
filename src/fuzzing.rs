//! What the property-based fuzz targets share: their proptest
//! configuration, with `PROPTEST_CASES` over each target's default.

use proptest::prelude::ProptestConfig;

use crate::catalog::ChangeKind;

/// `cases` per property in a plain `cargo test`, unless `PROPTEST_CASES`
/// says otherwise (run longer by hand with it).
pub(crate) fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Every change kind's name, from the one table of change kinds, and `more`
/// words beside them: what a fuzzed request or scenario step names.
pub(crate) fn change_names_and(more: &[&'static str]) -> Vec<&'static str> {
    ChangeKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .chain(more.iter().copied())
        .collect()
}
