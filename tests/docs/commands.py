#!/usr/bin/env python3
"""Every command in the docs, run as written (issue 22).

Reads README.md, docs/*.md and examples/load/README.md, finds every fenced
shell block (```sh, ```bash, ```console, ```shell, or unlabeled) and runs it
the way the HTML comment on the line before it says. A shell block without
such a comment fails the test, so a new page cannot slip in untested:

    <!-- doc-test: CLAUSE ; CLAUSE ... -->

Each clause is `[lines N[-M]] ACTION [ARGS]` (without `lines`, the whole
block; every line that is not blank or a comment belongs to exactly one
clause). The actions:

    run                  the lines run as one bash script (-e, pipefail) from
                         the repository root, stdin /dev/null; `expect TEXT`
                         (repeatable): its output must show TEXT
    server               the first command (with its `\\` continuations)
                         starts a server in the foreground: it runs in the
                         background until its --pidfile and --ready-file
                         exist (or `ready URL` answers), with its stdin open;
                         the rest of the lines run as `run` (`expect`).
                         It serves the later blocks of the page and is
                         stopped at the page's end as the docs say (SIGTERM
                         to the PID in its pidfile): it must exit 0 and
                         remove the pidfile. `expect-log TEXT`: its log must
                         show TEXT
    with-server          like `run`, while the page's server runs
                         (`expect`, `expect-log`)
    stdin                (a JSON block) the lines, pasted into the server's
                         stdin: every request in them must be answered;
                         `expect TEXT`: its stdout must show TEXT
    scenario             (a TOML or JSON block) the block as a --scenario
                         file: `dynamic-mcp-server --scenario FILE` must
                         accept it and run (stdin /dev/null, exit 0)
    client-config        (a JSON block) an MCP client configuration: each
                         of its `mcpServers` runs as a client would start it
                         (stdin /dev/null, exit 0)
    keys-of PATH         (a JSON block) an example of a file the page's
                         server writes: PATH, as the server wrote it, has
                         the same keys
    in FILE              not run here: the same command is in FILE (checked:
                         each line, comments and spacing aside, is in FILE)
    covered-by FILE WHY  not run here: FILE runs its equivalent, and WHY
                         says how and why not this text (required)

Blocks of other languages (python, json, toml, ...) need no marker, and run
only when they carry one. A `console` block runs as it is: write no `$ `
prompts in one.

What is substituted, and only that (the docs' own placeholders): `/tmp/`
becomes a fresh scratch folder, `/path/to/dynamic-mcp-server` the command on
PATH, and the example ports 8765, 8766, 8080 and 8081 (after a `:`) become
free ports chosen at run time. On PATH first: `dynamic-mcp-server` is the
debug binary; `cargo run [--release] -- ARGS` runs it through a real
`cargo run` without the release build; `cargo install --locked --path .` is
a real install with `--debug` into the scratch folder; `curl` gets
`--fail-with-body` (or `--fail`) and `--max-time 30`, so an HTTP error fails
the block. Every wait has a time limit, and every process a block starts is
stopped (its process group) when the block ends. A failed run keeps its
scratch folder (under target/doc-tests/) and names it.
"""

import dataclasses
import glob
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHELL_LANGS = {"", "sh", "bash", "console", "shell"}
FENCE = re.compile(r"^\s*```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!-- doc-test: (.*) -->\s*$")
EXAMPLE_PORTS = ("8765", "8766", "8080", "8081")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLAUSE_TIMEOUT = 60
READY_TIMEOUT = 60
EXPECT_TIMEOUT = 15
STOP_TIMEOUT = 10


class Failure(Exception):
    pass


@dataclasses.dataclass
class Block:
    page: str
    line: int  # of the opening fence
    lang: str
    lines: list
    marker: object  # the doc-test comment's text, or None

    def where(self):
        return f"{self.page}:{self.line}"


@dataclasses.dataclass
class Clause:
    first: int  # 1-based, in the block
    last: int
    action: str
    args: list


def pages():
    found = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=ROOT)), "examples/load/README.md"]
    return [page for page in found if (ROOT / page).is_file()]


def blocks(page):
    text = (ROOT / page).read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(text):
        opening = FENCE.match(text[i])
        if not opening:
            i += 1
            continue
        end = i + 1
        while end < len(text) and not re.match(r"^\s*```\s*$", text[end]):
            end += 1
        marker = MARKER.match(text[i - 1]) if i else None
        found.append(Block(page, i + 1, opening.group(1), text[i + 1 : end], marker and marker.group(1)))
        i = end + 1
    return found


def is_command(line):
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def clauses(block):
    """The marker's clauses; every command line must be in exactly one."""
    lexer = shlex.shlex(block.marker, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    parts, current = [], []
    for token in lexer:
        if token == ";":
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    result = []
    for words in parts:
        if not words:
            raise Failure(f"{block.where()}: an empty clause in the doc-test marker")
        first, last = 1, len(block.lines)
        if words[0] == "lines":
            bounds = words[1].split("-")
            first, last = int(bounds[0]), int(bounds[-1])
            words = words[2:]
        if not words:
            raise Failure(f"{block.where()}: a clause without an action")
        result.append(Clause(first, last, words[0], words[1:]))
    owner = {}
    for clause in result:
        for n in range(clause.first, clause.last + 1):
            if n in owner:
                raise Failure(f"{block.where()}: line {n} is in two clauses of the marker")
            owner[n] = clause
    for n, line in enumerate(block.lines, 1):
        if is_command(line) and n not in owner:
            raise Failure(f"{block.where()}: line {n} ({line.strip()!r}) is in no clause of the marker")
    return result


def options(args, allowed):
    """`key VALUE` pairs; a key may repeat."""
    found = {}
    if len(args) % 2:
        raise Failure(f"expected KEY VALUE pairs, got {args}")
    for key, value in zip(args[::2], args[1::2]):
        if key not in allowed:
            raise Failure(f"unknown option {key!r} (known: {', '.join(allowed)})")
        found.setdefault(key, []).append(value)
    return found


def logical_lines(lines):
    """Lines with their `\\` continuations joined, comments dropped."""
    joined, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    return [" ".join(re.sub(r"(^|\s)#.*$", "", line).split()) for line in joined if is_command(line)]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def stop_group(proc):
    """SIGTERM, then SIGKILL, to the process group of a child the test
    started, reaping the child (a zombie still counts as in the group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
    proc.poll()


def wait_for(what, check, timeout, alive=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise Failure(f"exited before {what}")
        time.sleep(0.05)
    raise Failure(f"no {what} within {timeout} s")


def read(path):
    try:
        return ANSI.sub("", pathlib.Path(path).read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return ""


def tail(path, limit=3000):
    """The end of an output, for a failure's message."""
    text = read(path)
    return text if len(text) <= limit else f"[... {len(text) - limit} characters before]\n{text[-limit:]}"


class Server:
    """A server a block starts in the foreground, run in the background."""

    def __init__(self, command, ready_url, env, scratch, label):
        self.command = command
        self.label = label
        self.log = scratch / f"{label}.stderr"
        self.out = scratch / f"{label}.stdout"
        pidfile = re.search(r"--pidfile\s+(\S+)", command)
        ready_file = re.search(r"--ready-file\s+(\S+)", command)
        self.pidfile = pidfile and pathlib.Path(pidfile.group(1))
        self.ready_file = ready_file and pathlib.Path(ready_file.group(1))
        if not (self.pidfile or ready_url):
            raise Failure("a server needs a --pidfile or a `ready URL` to wait for")
        with open(self.out, "wb") as out, open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", command],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=log,
                start_new_session=True,
            )
        try:
            for path in filter(None, (self.pidfile, self.ready_file)):
                wait_for(f"{path.name} from the server", path.exists, READY_TIMEOUT, self.alive)
            if ready_url:
                wait_for(f"answer from {ready_url}", lambda: answers(ready_url), READY_TIMEOUT, self.alive)
        except Failure as failure:
            self.kill()
            raise Failure(f"{failure}; its log:\n{tail(self.log)}") from None

    def alive(self):
        return self.proc.poll() is None

    def pid(self):
        if self.pidfile and self.pidfile.exists():
            return int(self.pidfile.read_text().strip())
        return self.proc.pid

    def paste(self, lines):
        self.proc.stdin.write("".join(line + "\n" for line in lines).encode())
        self.proc.stdin.flush()

    def stop(self):
        """SIGTERM as the docs say; it must exit 0 and remove its pidfile."""
        try:
            os.kill(self.pid(), signal.SIGTERM)
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f"the server did not exit within {STOP_TIMEOUT} s of SIGTERM") from None
        finally:
            self.kill()
        if self.proc.returncode != 0:
            raise Failure(f"the server exited {self.proc.returncode} on SIGTERM; its log:\n{tail(self.log)}")
        if self.pidfile and self.pidfile.exists():
            raise Failure(f"the server left its pidfile {self.pidfile}")

    def kill(self):
        stop_group(self.proc)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdin:
            self.proc.stdin.close()


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Runner:
    def __init__(self, binary, scratch):
        self.scratch = scratch
        self.ports = {port: free_port() for port in EXAMPLE_PORTS}
        self.server = None
        self.count = 0
        self.done = {"run": 0, "covered": 0}
        tools = scratch / "bin"
        tools.mkdir()
        (tools / "dynamic-mcp-server").symlink_to(binary)
        real_cargo, real_curl = shutil.which("cargo"), shutil.which("curl")
        if not (real_cargo and real_curl):
            raise Failure("needs cargo and curl on PATH")
        shim(tools / "cargo", CARGO_SHIM.format(cargo=shlex.quote(real_cargo), root=shlex.quote(str(scratch / "cargo-root"))))
        # --fail-with-body (curl 7.76 and later) shows the server's reason;
        # an older curl fails as surely with --fail.
        usage = subprocess.run([real_curl, "--help", "all"], capture_output=True, text=True).stdout
        fail = "--fail-with-body" if "--fail-with-body" in usage else "--fail"
        shim(tools / "curl", f'#!/usr/bin/env bash\nexec {shlex.quote(real_curl)} {fail} --max-time 30 "$@"\n')
        self.env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
        # `cargo install` into the scratch folder builds in the workspace's
        # target folder (warm), not in a temporary one.
        self.env.setdefault("CARGO_TARGET_DIR", str(pathlib.Path(binary).parents[1]))

    def substitute(self, text):
        text = text.replace("/tmp/", f"{self.scratch}/").replace("/path/to/dynamic-mcp-server", "dynamic-mcp-server")
        return re.sub(r"(?<=:)(" + "|".join(EXAMPLE_PORTS) + r")\b", lambda m: self.ports[m.group(1)], text)

    def label(self):
        self.count += 1
        return f"step{self.count}"

    def script(self, text, expect):
        """Run `text` with bash; fail on a non-zero status or a missing `expect`."""
        out = self.scratch / f"{self.label()}.out"
        with open(out, "wb") as sink:
            proc = subprocess.Popen(
                ["bash", "-e", "-o", "pipefail", "-c", text],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            try:
                status = proc.wait(CLAUSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise Failure(f"still running after {CLAUSE_TIMEOUT} s; its output:\n{tail(out)}") from None
            if status != 0:
                raise Failure(f"exit status {status}; its output:\n{tail(out)}")
            # A job the block left in the background (a stream) may still be
            # writing what it promised.
            for text_ in expect:
                try:
                    wait_for(f"{text_!r} in the output", lambda: text_ in read(out), EXPECT_TIMEOUT)
                except Failure as failure:
                    raise Failure(f"{failure}; the output:\n{tail(out)}") from None
        finally:
            stop_group(proc)

    def expect_log(self, texts):
        for text in texts:
            try:
                wait_for(f"{text!r} in the server's log", lambda: text in read(self.server.log), EXPECT_TIMEOUT)
            except Failure as failure:
                raise Failure(f"{failure}; its log:\n{tail(self.server.log)}") from None

    def stop_server(self):
        if self.server:
            server, self.server = self.server, None
            server.stop()

    def clause(self, block, clause):
        lines = block.lines[clause.first - 1 : clause.last]
        text = self.substitute("\n".join(lines))
        action, args = clause.action, clause.args
        if action == "in":
            if len(args) != 1:
                raise Failure("`in` takes one FILE")
            target = ROOT / args[0]
            if not target.is_file():
                raise Failure(f"`in {args[0]}`: no such file")
            known = set(logical_lines(target.read_text(encoding="utf-8").splitlines()))
            for command in logical_lines(lines):
                if command not in known:
                    raise Failure(f"`in {args[0]}`: {args[0]} does not run {command!r}")
            self.done["covered"] += 1
            return f"in {args[0]}"
        if action == "covered-by":
            if len(args) < 2:
                raise Failure("`covered-by FILE WHY`: say why")
            if not (ROOT / args[0]).is_file():
                raise Failure(f"`covered-by {args[0]}`: no such file")
            self.done["covered"] += 1
            return f"covered by {args[0]}"
        if action == "run":
            self.stop_server()
            self.script(text, options(args, ["expect"]).get("expect", []))
        elif action == "server":
            self.stop_server()
            opts = options(args, ["ready", "expect", "expect-log"])
            text_lines = text.split("\n")
            n = 0
            while text_lines[n].rstrip().endswith("\\"):
                n += 1
            command = "\n".join(text_lines[: n + 1])
            ready = opts.get("ready", [None])[0]
            self.server = Server(command, ready and self.substitute(ready), self.env, self.scratch, self.label())
            self.expect_log(opts.get("expect-log", []))
            rest = "\n".join(text_lines[n + 1 :])
            if logical_lines(rest.split("\n")):
                self.script(rest, opts.get("expect", []))
        elif action == "scenario":
            options(args, [])
            scenario = self.scratch / f"{self.label()}.{'json' if block.lang == 'json' else 'toml'}"
            scenario.write_text(text + "\n")
            self.script(f"dynamic-mcp-server --scenario {shlex.quote(str(scenario))} --pidfile {shlex.quote(str(scenario))}.pid", [])
        elif action == "client-config":
            options(args, [])
            servers = json.loads(text)["mcpServers"]
            for server in servers.values():
                self.script(shlex.join([server["command"], *server.get("args", [])]), [])
        elif action == "keys-of":
            if len(args) != 1 or not (self.server and self.server.alive()):
                raise Failure("`keys-of PATH` takes one PATH, written by the page's running server")
            written = json.loads(pathlib.Path(self.substitute(args[0])).read_text())
            if sorted(written) != sorted(json.loads(text)):
                raise Failure(f"the example's keys {sorted(json.loads(text))} are not those the server wrote: {sorted(written)}")
        elif action in ("with-server", "stdin"):
            if not (self.server and self.server.alive()):
                raise Failure(f"`{action}` needs a server started by an earlier block of the page")
            if action == "with-server":
                opts = options(args, ["expect", "expect-log"])
                self.script(text, opts.get("expect", []))
                self.expect_log(opts.get("expect-log", []))
            else:
                opts = options(args, ["expect"])
                self.paste_session(text.split("\n"), opts.get("expect", []))
        else:
            raise Failure(f"unknown action {action!r}")
        self.done["run"] += 1
        return action

    def paste_session(self, lines, expect):
        ids = [json.loads(line)["id"] for line in lines if line.strip() and "id" in json.loads(line)]
        self.server.paste(lines)

        def answered():
            seen = set()
            for line in read(self.server.out).splitlines():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "id" in message and ("result" in message or "error" in message):
                    seen.add(json.dumps(message["id"]))
            out = read(self.server.out)
            return all(json.dumps(i) in seen for i in ids) and all(text in out for text in expect)

        try:
            wait_for("answer to every request pasted", answered, EXPECT_TIMEOUT, self.server.alive)
        except Failure as failure:
            raise Failure(f"{failure}; its stdout:\n{tail(self.server.out)}\nits log:\n{tail(self.server.log)}") from None
        errors = [line for line in read(self.server.out).splitlines() if '"error"' in line]
        if errors:
            raise Failure(f"the server answered with errors: {errors}")


CARGO_SHIM = """#!/usr/bin/env bash
# cargo as the docs call it, without their release build.
set -euo pipefail
if [[ ${{1-}} == run ]]; then
  args=("$@")
  kept=()
  for arg in "${{args[@]:1}}"; do
    [[ ${{#kept[@]}} -lt 1 && $arg == --release ]] || kept+=("$arg")
  done
  exec {cargo} run --quiet "${{kept[@]}}"
fi
if [[ $* == "install --locked --path ." ]]; then
  {cargo} install --quiet --locked --path . --debug --root {root}
  {root}/bin/dynamic-mcp-server --version
  exit
fi
echo "tests/docs: the docs call cargo in a way this test does not know: cargo $*" >&2
exit 2
"""


def shim(path, text):
    path.write_text(text)
    path.chmod(0o755)


def main():
    binary = sys.argv[1]
    failures = []
    base = pathlib.Path(os.environ.get("DOC_TEST_SCRATCH", tempfile.gettempdir()))
    base.mkdir(parents=True, exist_ok=True)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="dms-docs-", dir=base))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runner = Runner(binary, scratch)
    started = time.monotonic()
    finished = False
    try:
        for page in pages():
            for block in blocks(page):
                shell = block.lang in SHELL_LANGS
                if block.marker is None:
                    if shell:
                        failures.append(f"{block.where()}: a shell block with no doc-test marker (see tests/docs/commands.py)")
                    continue
                try:
                    for clause in clauses(block):
                        began = time.monotonic()
                        what = runner.clause(block, clause)
                        print(f"ok    {block.where()} lines {clause.first}-{clause.last}: {what} ({time.monotonic() - began:.1f} s)", flush=True)
                except Failure as failure:
                    failures.append(f"{block.where()}: {failure}")
                    print(f"FAIL  {block.where()}: {failure}", flush=True)
                    if runner.server:
                        runner.server.kill()
                        runner.server = None
            try:
                runner.stop_server()
            except Failure as failure:
                failures.append(f"{page}: {failure}")
                print(f"FAIL  {page}: {failure}", flush=True)
        finished = True
    finally:
        if runner.server:
            runner.server.kill()
        if not finished:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"== docs: {runner.done['run']} clauses run, {runner.done['covered']} covered elsewhere, "
          f"{len(failures)} failures, {time.monotonic() - started:.1f} s")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print(f"(scratch kept: {scratch})", file=sys.stderr)
        return 1
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
