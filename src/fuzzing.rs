//! What the property-based fuzz targets share: their proptest
//! configuration, with `PROPTEST_CASES` over each target's default.

use proptest::prelude::ProptestConfig;

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
