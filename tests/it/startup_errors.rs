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

/// The odd places a file path can point at, each made in `dir`: a symlink, a
/// FIFO, a directory, a device, a folder that does not exist, and a folder
/// that is a file.
fn odd_paths(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let target = dir.join("target");
    std::fs::write(&target, "precious").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = dir.join("fifo");
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let folder = dir.join("folder");
    std::fs::create_dir(&folder).unwrap();
    vec![
        ("symlink", link),
        ("FIFO", fifo),
        ("directory", folder),
        ("device", "/dev/null".into()),
        ("missing folder", dir.join("missing").join("file")),
        ("folder that is a file", target.join("file")),
    ]
}

/// Issue 24 finding 10: a `--report` or `--ready-file` path that cannot be
/// written is refused with one line and exit 2 before anything is served or
/// logged, as the pidfile is: no "recording the client report" line first,
/// no "serving the control endpoint" (nor MCP) line, and nothing listening.
/// The same holds for the pidfile of an HTTP server with a control endpoint.
#[test]
fn every_path_is_checked_before_anything_is_served() {
    for flag in ["--report", "--ready-file", "--pidfile"] {
        let dir = tempfile::tempdir().unwrap();
        for (what, path) in odd_paths(dir.path()) {
            let path = path.to_str().unwrap();
            let pidfile = dir.path().join("server.pid");
            let pidfile_arg = match flag {
                "--pidfile" => path,
                _ => pidfile.to_str().unwrap(),
            };
            let output = std::process::Command::new(common::BIN)
                .args(["--pidfile", pidfile_arg])
                .args(["--http", "127.0.0.1:0", "--control", "127.0.0.1:0"])
                .args(if flag == "--pidfile" {
                    vec![]
                } else {
                    vec![flag, path]
                })
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run the server");
            assert_eq!(
                output.status.code(),
                Some(2),
                "{flag} at a {what}: {output:?}"
            );
            let stderr = String::from_utf8(output.stderr).unwrap();
            let lines: Vec<_> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{flag} at a {what}: one line: {stderr:?}");
            assert!(lines[0].contains(flag), "{flag} at a {what}: {stderr}");
            assert!(lines[0].contains(path), "{flag} at a {what}: {stderr}");
            if flag != "--pidfile" {
                assert!(!pidfile.exists(), "{flag} at a {what}: no pidfile left");
            }
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("target")).unwrap(),
            "precious",
            "{flag}: the symlink's target is untouched"
        );
    }
}
