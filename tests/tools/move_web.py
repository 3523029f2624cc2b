"""Issue #18: give ``app/web/`` folders (routes, views, drawing, inspector, infra), on whatever the
tree is when it runs. From the repository root, with a clean git tree:

    python3 -m tests.tools.move_web            # move, rewrite, check; then review `git diff`
    python3 -m tests.tools.move_web --dry-run  # only say what would move (and what is unmapped)

It refuses to touch anything (exit 2) while a module in app/web has no entry in ``MAPPING``:
add the new ones and run it again. Otherwise it

1. ``git mv``-s each mapped module that still sits at the top of app/web (a module already in
   its folder is left alone, so a second run does nothing);
2. rewrites every reference to a moved module, in one pass per file (a rewritten name is never
   rewritten again): Python imports (``from app.web import x``, ``from app.web.x import y``,
   relative imports inside app/web, which become absolute) keeping each local name (``from
   app.web import views`` becomes ``from app.web.views import session as views``); dotted names
   anywhere (``mock.patch("app.web.tick.time")``, ``-m app.web.catalog``, mypy overrides);
   paths (``app/web/tick.py``, ``app/web/typeset``) in code, docs, templates, catalogues, CI and
   packaging files. README.md is never edited: references there are listed instead;
3. adds one ``.parent`` to each ``Path(__file__)...parent`` chain of a moved module (each moves
   one folder down; app/web/locales stays where it is) and refuses any other use of __file__;
4. writes the folders' ``__init__.py`` and the shim that keeps ``python3 -m app.web.catalog``
   working, sorts the rewritten imports (``ruff --select I --fix``), checks that Babel still
   extracts the same messages from app/web, regenerates the catalogues (source locations
   change; it reports any other difference) and lists references it could not rewrite.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

WEB = Path("app/web")
# Old module (app/web/<old>.py) -> its new dotted name under app.web.
MAPPING: dict[str, str] = {
    # HTTP routers: what answers a URL.
    "routes": "routes",  # routes.py becomes routes/__init__.py (installs the routers)
    "session_pages": "routes.session",
    "landing": "routes.landing",
    "experiment": "routes.experiment",
    "tick": "routes.tick",
    "play": "routes.play",  # the Play stream's frames (its route is in session.py)
    "watch": "routes.watch",
    "compare": "routes.compare",
    "compare_watch": "routes.compare_watch",
    "polls": "routes.polls",
    # What the templates show, computed from a session, without HTTP.
    "views": "views.session",
    "passes": "views.passes",
    "data_panel": "views.data_panel",
    "flash": "views.flash",
    "share": "views.share",
    "train_run": "views.train_run",
    "compare_setup": "views.compare_setup",
    # SVG and PNG pictures.
    "diagram": "drawing.diagram",
    "diagram_model": "drawing.diagram_model",
    "diagram_svg": "drawing.diagram_svg",
    "layout": "drawing.layout",
    "active": "drawing.active",
    "lecture": "drawing.lecture",
    "charts": "drawing.charts",
    "compare_charts": "drawing.compare_charts",
    "axes": "drawing.axes",
    "plane": "drawing.plane",
    "heatmaps": "drawing.heatmaps",
    "heatcache": "drawing.heatcache",
    "png": "drawing.png",
    # The inspector's derivations, as MathML.
    "formulas": "inspector.formulas",
    "inspector_items": "inspector.inspector_items",
    "update_formulas": "inspector.update_formulas",
    "optformulas": "inspector.optformulas",
    "chain": "inspector.chain",
    "mathml": "inspector.mathml",
    # Page machinery every layer above reads. forms.py is here, not in routes/: it holds no
    # route, and the diagram (option_label), the comparisons' views and the Jinja globals
    # read its vocabulary; in routes/ they would import the routers' package.
    "templating": "infra.templating",
    "i18n": "infra.i18n",
    "catalog": "infra.catalog",
    "typeset": "infra.typeset",
    "fmt": "infra.fmt",
    "page_errors": "infra.page_errors",
    "forms": "infra.forms",
}
PACKAGES: dict[str, str] = {
    "views": "What the pages show, computed from a session's state without HTTP: the session\n"
             "page's regions (session.py) from the render's one engine pass (passes.py), the "
             "data\npanel, the toolbar's messages, the Share panel, long runs and the "
             "comparisons' setup.",
    "drawing": "The pictures, as SVG and PNG: the network diagram (its model, layout and lecture\n"
               "layout), the charts over epochs and their axes, the input plane, the heatmaps "
               "and their\ncache, and the PNG encoder.",
    "inspector": "The inspector: each number's derivation as LaTeX (the chain rule, the update "
                 "step,\nthe optimizers' equations), typeset to MathML on the server.",
    "infra": "What every page is made with: the Jinja environment and responses, the languages "
             "and\ntheir catalogues, number formatting, Korean line breaking, form parsing and "
             "its\nvocabulary, and the HTML error pages.",
}
# Modules that stay at the top of app/web after the move.
SHIMS: dict[str, str] = {
    "catalog": '''"""``python3 -m app.web.catalog``, the command the docs have long given: the
catalogue tool is app/web/infra/catalog.py."""

import sys

from app.web.infra.catalog import main

if __name__ == "__main__":
    sys.exit(main())
''',
}
KEEP = {"__init__"}
# Words that name a renamed module without its folder, in the moved file itself: (file, old, new).
# Applied where found; the end of the run lists those not found.
FIXUPS: list[tuple[str, str, str]] = [
    ("app/web/routes/__init__.py", "(session_pages.py)", "(session.py)"),
]
LIMIT = 100  # ruff's line-length
# Where references are rewritten (tracked files only). README.md is reported, never edited.
ROOTS = ["app", "tests", "benchmarks", "docs", ".ci", "templates", "static", "examples",
         "pyproject.toml", "setup.py", "MANIFEST.in", "SECURITY.md"]
BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".whl", ".gz", ".mo"}
SELF = Path("tests/tools/move_web.py")


class Refused(Exception):
    """Nothing (more) is done; the message says why."""


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise Refused(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r


def new_path(old: str) -> Path:
    """Where app/web/<old>.py goes."""
    parts = MAPPING[old].split(".")
    if old == "routes":
        return WEB / "routes" / "__init__.py"
    return WEB.joinpath(*parts[:-1], parts[-1] + ".py")


def survey() -> tuple[dict[str, str], list[str]]:
    """(the moves still to do: old -> new dotted, the modules nobody mapped)."""
    targets = {new_path(o) for o in MAPPING} | {WEB / p / "__init__.py" for p in PACKAGES}
    moves: dict[str, str] = {}
    unmapped: list[str] = []
    for path in sorted(WEB.rglob("*.py")):
        if "locales" in path.parts or "__pycache__" in path.parts:
            continue
        if path.parent == WEB:
            name = path.stem
            if name in MAPPING and not (name in SHIMS and new_path(name).exists()):
                moves[name] = MAPPING[name]
            elif name not in KEEP and name not in SHIMS:
                unmapped.append(str(path))
        elif path not in targets:
            unmapped.append(str(path))
    return moves, unmapped


# --- rewriting --------------------------------------------------------------------------------

@dataclass
class Rewriter:
    moves: dict[str, str]  # old -> new dotted (relative to app.web)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = "|".join(sorted(map(re.escape, self.moves), key=len, reverse=True))
        self.dotted = re.compile(rf"(?<![\w.])app\.web\.({names})(?!\w)")
        # (A path may break after "app/web/", in prose or a comment.)
        self.path = re.compile(
            rf"(?<![\w/.])app/web/(\n[ \t]*(?:#[ \t]*)?)?({names})(\.py)?(?![\w/])")

    def new_dotted(self, old: str) -> str:
        return "app.web." + self.moves[old]

    def _dotted(self, m: re.Match[str]) -> str:
        return self.new_dotted(m.group(1))

    def _path(self, m: re.Match[str]) -> str:
        brk, old, py = m.group(1), m.group(2), m.group(3)
        new = str(new_path(old)) if py else str(WEB.joinpath(*self.moves[old].split(".")))
        if brk:  # keep the line break before the file's own name
            head, _, leaf = new.rpartition("/")
            return f"{head}/{brk}{leaf}"
        return new

    def text(self, src: str, skip: list[tuple[int, int]] | None = None
             ) -> list[tuple[int, int, str]]:
        """Edits (start, end, new) for the dotted names and paths outside ``skip``."""
        edits: list[tuple[int, int, str]] = []
        for rx, fn in ((self.dotted, self._dotted), (self.path, self._path)):
            for m in rx.finditer(src):
                if any(a <= m.start() < b for a, b in skip or []):
                    continue
                new = fn(m)
                if new != m.group(0):
                    edits.append((m.start(), m.end(), new))
        return edits

    def module_of(self, resolved: str) -> str | None:
        """The new name of an absolute module name, if it is (inside) a moved module."""
        for old in sorted(self.moves, key=len, reverse=True):
            base = f"app.web.{old}"
            if resolved == base or resolved.startswith(base + "."):
                return self.new_dotted(old) + resolved[len(base):]
        return None

    def imports(self, src: str, old_module: str | None, is_package: bool
                ) -> list[tuple[int, int, str]]:
        """Edits replacing each ImportFrom that names a moved module."""
        tree = ast.parse(src)
        starts = [0]
        for line in src.splitlines(keepends=True):
            starts.append(starts[-1] + len(line))
        lines = src.splitlines(keepends=True)

        def offset(lineno: int, col: int) -> int:  # ast columns count UTF-8 bytes
            line = lines[lineno - 1].encode()
            return starts[lineno - 1] + len(line[:col].decode())

        edits: list[tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = node.module or ""
            if node.level:
                if old_module is None:
                    continue
                base = old_module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([module] if module else []))
            groups: dict[str, list[str]] = {}
            changed = bool(node.level)
            for alias in node.names:
                target, name, asname = module, alias.name, alias.asname
                if module == "app.web" and name in self.moves:
                    target, _, leaf = self.new_dotted(name).rpartition(".")
                    if leaf != name:
                        asname = asname or name
                    name = leaf
                    changed = True
                elif (moved := self.module_of(module)) is not None:
                    target = moved
                    changed = True
                groups.setdefault(target, []).append(
                    name if asname is None or asname == name else f"{name} as {asname}")
            if not changed:
                continue
            indent = " " * node.col_offset
            new = f"\n{indent}".join(f"from {t} import {', '.join(ns)}" for t, ns in groups.items())
            assert node.end_lineno is not None and node.end_col_offset is not None
            edits.append((offset(node.lineno, node.col_offset),
                          offset(node.end_lineno, node.end_col_offset), new))
        return edits


def apply(src: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        src = src[:start] + new + src[end:]
    return src


FILE_CHAIN = re.compile(r"(Path\(__file__\)(?:\.resolve\(\))?)(\.parents\[(\d+)\]|(?:\.parent)+)")


def one_folder_down(src: str, path: Path) -> str:
    """A moved module sits one folder deeper: each Path(__file__) chain climbs one more."""
    def deeper(m: re.Match[str]) -> str:
        if m.group(3) is not None:
            return f"{m.group(1)}.parents[{int(m.group(3)) + 1}]"
        return m.group(1) + m.group(2) + ".parent"

    new, n = FILE_CHAIN.subn(deeper, src)
    if new.count("__file__") != n:
        raise Refused(f"{path}: uses __file__ in a way this script does not know how to move; "
                      "fix it by hand (it moves one folder down) and re-run")
    return new


def _split(line: str) -> tuple[str, str] | None:
    """The longest head of ``line`` within LIMIT that ends a word, and the words after it."""
    cut = line.rfind(" ", 0, LIMIT + 1)
    while cut > 0 and line[cut - 1] == " ":
        cut -= 1
    if cut <= len(line) - len(line.lstrip()):
        return None
    return line[:cut].rstrip(), line[cut:].strip()


def reflow_python(src: str, before: str) -> str:
    """Lines a rewrite made longer than LIMIT, in a comment or inside a multi-line string, pass
    their last words to the next line of the same comment or paragraph (or to a new line)."""
    import io
    import tokenize

    was_long = {line for line in before.splitlines() if len(line) > LIMIT}
    inside: dict[int, int] = {}  # line (0-based) of a multi-line string -> its last line
    trailing: dict[int, int] = {}  # line (0-based) -> column of its comment after code
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.line[: tok.start[1]].strip():
            trailing[tok.start[0] - 1] = tok.start[1]
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            for i in range(tok.start[0] - 1, tok.end[0]):
                inside[i] = tok.end[0] - 1
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if len(line) <= LIMIT or line in was_long:
            i += 1
            continue
        split = _split(line)
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if split is None or not (stripped.startswith("#") or i in inside or i in trailing):
            i += 1
            continue
        head, rest = split
        lines[i] = head
        if i in trailing:  # the comment goes on under itself
            lines.insert(i + 1, " " * trailing[i] + "# " + rest)
            inside = {(k + 1 if k > i else k): (v + 1 if v > i else v) for k, v in inside.items()}
            trailing = {(k + 1 if k > i else k): v for k, v in trailing.items()}
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if stripped.startswith("#"):
            n_stripped = nxt.lstrip()
            if n_stripped.startswith("# ") and nxt[: len(nxt) - len(n_stripped)] == indent:
                lines[i + 1] = f"{indent}# {rest} {n_stripped[2:]}"
            else:
                lines.insert(i + 1, f"{indent}# {rest}")
                inside = {(k + 1 if k > i else k): (v + 1 if v > i else v)
                          for k, v in inside.items()}
                trailing = {(k + 1 if k > i else k): v for k, v in trailing.items()}
        elif i + 1 <= inside[i] and nxt.strip() and not nxt.strip().startswith('"""'):
            n_indent = nxt[: len(nxt) - len(nxt.lstrip())]
            lines[i + 1] = f"{n_indent}{rest} {nxt.lstrip()}"
        else:
            lines.insert(i + 1, indent + rest)  # still inside the string, which ends a line later
            inside = {(k + 1 if k > i else k): (v + 1 if v >= i else v)
                      for k, v in inside.items()} | {i + 1: inside[i] + 1}
            trailing = {(k + 1 if k > i else k): v for k, v in trailing.items()}
        i += 1
    return "\n".join(lines) + ("\n" if src.endswith("\n") else "")


def reflow_toml(src: str, before: str) -> str:
    """A TOML list a rewrite made longer than LIMIT continues after its last comma that fits,
    aligned under its first item."""
    was_long = {line for line in before.splitlines() if len(line) > LIMIT}
    out: list[str] = []
    for line in src.splitlines():
        while len(line) > LIMIT and line not in was_long and "[" in line:
            cut = line.rfind(", ", 0, LIMIT)
            if cut <= line.index("["):
                break
            out.append(line[: cut + 1])
            line = " " * (line.index("[") + 1) + line[cut + 2:]
        out.append(line)
    return "\n".join(out) + ("\n" if src.endswith("\n") else "")


def tracked_files() -> list[Path]:
    out = sh("git", "ls-files", "-z", "--", *[r for r in ROOTS if Path(r).exists()]).stdout
    return [Path(p) for p in out.split("\0") if p and Path(p).is_file()]


def extract_messages(catalog_module: str) -> list[str]:
    code = (f"import json; from {catalog_module} import extract; "
            "print(json.dumps(sorted(str(k) for k in extract())))")
    return list(json.loads(sh(sys.executable, "-c", code).stdout))


def po_messages() -> dict[str, dict[str, str]]:
    from babel.messages.pofile import read_po

    found: dict[str, dict[str, str]] = {}
    for po in sorted((WEB / "locales").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            cat = read_po(f)
        found[str(po)] = {str(m.id): str(m.string) for m in cat if m.id}
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--dry-run", action="store_true", help="only list the moves")
    ap.add_argument("--allow-dirty", action="store_true", help="run on an uncommitted tree")
    args = ap.parse_args(argv)
    if not (Path("pyproject.toml").is_file() and WEB.is_dir()):
        raise Refused("run me from the repository root (python3 -m tests.tools.move_web)")
    moves, unmapped = survey()
    if unmapped:
        raise Refused("modules in app/web with no entry in MAPPING (tests/tools/move_web.py); "
                      "add them and run again:\n  " + "\n  ".join(unmapped))
    if not moves:
        print("app/web is already in folders: nothing to move")
        return 0
    for old in moves:
        if new_path(old).exists():
            raise Refused(f"app/web/{old}.py would go to {new_path(old)}, which exists")
        print(f"  app/web/{old}.py -> {new_path(old)}")
    if args.dry_run:
        return 0
    if not args.allow_dirty and sh("git", "status", "--porcelain").stdout.strip():
        raise Refused("the git tree has uncommitted changes; commit or stash them "
                      "(or pass --allow-dirty)")

    catalog_before = "app.web.catalog" if "catalog" in moves else None
    messages_before = extract_messages(catalog_before) if catalog_before else None
    po_before = po_messages()

    # 1. The moves.
    for pkg in sorted({MAPPING[o].split(".")[0] for o in moves}):
        (WEB / pkg).mkdir(exist_ok=True)
    for old in moves:
        sh("git", "mv", str(WEB / f"{old}.py"), str(new_path(old)))
    for pkg, doc in PACKAGES.items():
        init = WEB / pkg / "__init__.py"
        if (WEB / pkg).is_dir() and not init.exists():
            init.write_text(f'"""{doc}"""\n', encoding="utf-8")
            sh("git", "add", str(init))

    # 2 and 3. The references, and the moved modules' own paths.
    rw = Rewriter(moves)
    moved_files = {new_path(o): o for o in moves}
    changed: list[Path] = []
    for path in tracked_files():
        if path == SELF or path.suffix in BINARY:
            continue
        try:
            src = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        edits: list[tuple[int, int, str]] = []
        if path.suffix == ".py":
            was = moved_files.get(path)
            old_module = f"app.web.{was}" if was else (
                ".".join(path.with_suffix("").parts) if path.parts[:2] == ("app", "web") else None)
            if old_module and old_module.endswith(".__init__"):
                old_module = old_module.removesuffix(".__init__")
            edits = rw.imports(src, old_module, path.name == "__init__.py" and was is None)
        new = apply(src, edits + rw.text(src, [(a, b) for a, b, _ in edits]))
        if path in moved_files:
            new = one_folder_down(new, path)
        if new != src and path.suffix == ".py":
            new = reflow_python(new, src)
        elif new != src and path.suffix == ".toml":
            new = reflow_toml(new, src)
        if new != src:
            path.write_text(new, encoding="utf-8")
            changed.append(path)

    for file, old_text, new_text in FIXUPS:
        f = Path(file)
        text = f.read_text(encoding="utf-8") if f.is_file() else ""
        if old_text in text:
            f.write_text(text.replace(old_text, new_text), encoding="utf-8")
        elif new_text not in text:
            print(f"fix-up not applied ({file} no longer says {old_text!r})")

    # 4. Shims, import order, the catalogues.
    for name, text in SHIMS.items():
        if name in moves:
            (WEB / f"{name}.py").write_text(text, encoding="utf-8")
            sh("git", "add", str(WEB / f"{name}.py"))
    py = [str(p) for p in changed if p.suffix == ".py"]
    if py:
        sh(sys.executable, "-m", "ruff", "check", "--select", "I", "--fix", "--quiet", *py,
           check=False)
    sh(sys.executable, "-c", "import app.main")  # every module still imports
    problems: list[str] = []
    if catalog_before and messages_before is not None:
        after = extract_messages(f"app.web.{MAPPING['catalog']}")
        if after != messages_before:
            lost = sorted(set(messages_before) - set(after))
            gained = sorted(set(after) - set(messages_before))
            problems.append(f"Babel extracts other messages after the move: lost {lost}, "
                            f"gained {gained}")
        r = sh(sys.executable, "-m", f"app.web.{MAPPING['catalog']}", check=False)
        if r.returncode:
            print("the catalogue tool says (as before the move):\n" + r.stdout + r.stderr)
        po_after = po_messages()
        for po, msgs in po_after.items():
            if msgs != po_before.get(po):
                problems.append(f"{po}: regenerating changed messages, not only locations "
                                "(were the catalogues stale before the move?)")

    # What is left: references to the old names the rewriting could not see.
    # (Not the old names that are now folders: app.web.views.session is new, not left over.)
    folders = {n.split(".")[0] for n in MAPPING.values()}
    gone = [o for o in moves if o not in folders and o not in SHIMS]
    left = re.compile(r"app[./]web[./](" + "|".join(sorted(gone, key=len, reverse=True))
                      + r")(?![\w/])")
    for path in [*tracked_files(), Path("README.md")]:
        if path == SELF or path.suffix in BINARY or not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(lines, 1):
            if left.search(line):
                problems.append(f"{path}:{i}: still names an old module: {line.strip()}")
    sh("git", "add", "-A", "--", *[r for r in ROOTS if Path(r).exists()])
    print(f"moved {len(moves)} modules, rewrote {len(changed)} files")
    if problems:
        print("CHECK BY HAND:\n  " + "\n  ".join(problems))
        return 1
    print("next: ruff check app tests benchmarks && mypy app && the tests")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refused as e:
        print(f"move_web: {e}", file=sys.stderr)
        sys.exit(2)
