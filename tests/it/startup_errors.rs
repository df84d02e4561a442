//! Bad start-up input exits 2 with one clear line on stderr and leaves no
//! pidfile (case 11).

use crate::common;

use std::path::Path;

use common::refuses_to_start;

/// Run the server with `args`, expecting it to refuse to start. Returns its
/// one stderr line.
fn refuses(args: &[&str], pidfile: &Path) -> String {
    let stderr = refuses_to_start(pidfile, args);
    assert!(!pidfile.exists(), "no pidfile left behind");
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr:?}");
    lines[0].to_owned()
}

#[test]
fn a_missing_toolcount_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-count");
    let line = refuses(
        &["--toolcount-file", missing.to_str().unwrap()],
        &dir.path().join("server.pid"),
    );
    assert!(line.contains("no-such-count"), "{line}");
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn a_toolcount_that_is_not_a_number_or_below_one() {
    for (contents, problem) in [
        ("abc\n", "\"abc\""),
        ("0\n", "not 0"),
        ("", "found nothing"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("count");
        std::fs::write(&file, contents).unwrap();
        let line = refuses(
            &["--toolcount-file", file.to_str().unwrap()],
            &dir.path().join("server.pid"),
        );
        assert!(line.contains("--toolcount-file"), "{line}");
        assert!(line.contains(file.to_str().unwrap()), "{line}");
        assert!(line.contains(problem), "{contents:?}: {line}");
    }
}

#[test]
fn a_pidfile_in_a_directory_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("missing-dir").join("server.pid");
    let line = refuses(&[], &pidfile);
    assert!(line.contains("--pidfile"), "{line}");
    assert!(line.contains("missing-dir"), "{line}");
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn tools_zero_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let line = refuses(&["--tools", "0"], &dir.path().join("server.pid"));
    assert!(line.contains("--tools"), "{line}");
}
