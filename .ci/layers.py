#!/usr/bin/env python3
"""CI gate for the crate's layers (the "Layout" section of src/lib.rs).

Two rules, checked over the `crate::` and `super::` paths each file of src/ names:
1. no two files depend on each other, directly or round a longer loop;
2. a module of the pure core names no actor module.

A file is one module: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`. A path is
charged to the longest module prefix it names, so `crate::catalog::Change` is
an arrow to `catalog` and `super::timeline::TimelineMsg` (from `scenario`'s
`mod.rs`) an arrow to `scenario::timeline`. `mod x;` declarations are not
arrows: a parent declaring its child is how Rust nests files, not a use.

Exits 1, naming each loop and each offending arrow, when a rule is broken.
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"

# The pure core: state and rules, no actor, unit-tested without a session.
PURE = {
    ("catalog",), ("tools",), ("prompts",), ("resources",), ("pagination",),
    ("hostile",), ("observe",), ("revision",), ("notice",),
    ("scenario",), ("report",), ("fleet",), ("verdict",), ("verdict", "baseline"), ("verdict", "results"),
    ("check", "view"), ("check", "battery"), ("check", "grade"),
}
# Modules whose file holds an actor (message enum, state, Actor impl, handle).
ACTOR_FILES = {("scenario", "timeline"), ("report", "recorder"), ("control", "actor"), ("http", "server")}


def module_of(path: pathlib.Path) -> tuple:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def is_actor(module: tuple) -> bool:
    return (module[:1] == ("actors",) and len(module) > 1) or module[:2] in ACTOR_FILES


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def expand(prefix: list, body: str) -> list:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e], as segment lists."""
    out, depth, item = [], 0, ""
    for ch in body + ",":
        if ch == "," and depth == 0:
            item = item.strip()
            if item:
                head, brace, rest = item.partition("{")
                head_parts = [p for p in head.split("::") if p]
                if brace:
                    out.extend(expand(prefix + head_parts, rest.rsplit("}", 1)[0]))
                else:
                    out.append(prefix + head_parts)
            item = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        item += ch
    return out


def named_paths(module: tuple, text: str) -> list:
    paths = []
    for root, body in re.findall(r"\buse\s+(crate|super)::([^;]+);", text):
        body = re.sub(r"\s+", "", body)
        base = [] if root == "crate" else list(module[:-1])
        paths.extend(expand(base, body))
    for found in re.findall(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths.append([p for p in found.split("::") if p])
    for found in re.findall(r"(?<!use )\bsuper((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths.append(list(module[:-1]) + [p for p in found.split("::") if p])
    return paths


def main() -> int:
    modules = {module_of(f): f for f in SRC.rglob("*.rs")}
    arrows = {m: set() for m in modules}
    for module, file in modules.items():
        for path in named_paths(module, strip_comments(file.read_text(encoding="utf-8"))):
            for cut in range(len(path), 0, -1):
                target = tuple(path[:cut])
                if target in modules:
                    if target != module:
                        arrows[module].add(target)
                    break

    # Loops: strongly connected components of more than one module (Tarjan).
    order, low, on_stack, stack, loops = {}, {}, set(), [], []

    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(arrows[v]):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted("::".join(m) for m in component))

    sys.setrecursionlimit(10_000)
    for v in sorted(modules):
        if v not in order:
            visit(v)

    impure = sorted(
        f"{'::'.join(m)} -> {'::'.join(t)}"
        for m in modules
        if m in PURE
        for t in arrows[m]
        if is_actor(t)
    )
    for loop in loops:
        print("layers: modules that import each other (round a loop): " + ", ".join(loop))
    for arrow in impure:
        print("layers: a pure module names an actor: " + arrow)
    if loops or impure:
        return 1
    count = sum(len(a) for a in arrows.values())
    print(f"layers: {len(modules)} modules, {count} arrows, no loop; the pure core names no actor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
