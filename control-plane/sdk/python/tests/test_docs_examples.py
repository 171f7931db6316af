"""Runs every code example of the developer and operator guides
(``control-plane/docs/guides/<lang>/<slug>.md``) and of the repository's
other Markdown documents (``README.md``, ``control-plane/docs/*.md``, …)
against a real AI Hub.

The contract (what the guides are written against):

- Every ``*.md`` under ``control-plane/docs/guides/`` is one test case, id
  ``<lang>/<slug>``.
- Fenced blocks whose info string's first word is ``sh``, ``bash``, ``shell``,
  ``python``, ``js`` or ``javascript`` are executed in page order, in one
  fresh temporary working directory per page: shell with ``bash -euo
  pipefail``, Python with this interpreter (``PYTHONPATH`` has the checkout's
  SDK), JavaScript as an ES module with ``node`` from a file inside
  ``control-plane/sdk/typescript/.doc-examples/`` (so ``openai`` and
  ``@aihub/sdk`` resolve from that package's ``node_modules``). Other info
  strings are shown, not run.
- A block fails the page when it exits non-zero or runs longer than 120 s.
- Every block gets the environment of a fresh verified developer with a live
  key (``PROVIDED`` below); operator pages (slug ``operator-…``) also get the
  system's database URL and secrets.
- Directives, an HTML comment on the line right before a fence (several may
  be stacked there): ``<!-- example: env -->`` (not run; may only export
  provided names), ``<!-- example: background -->`` (started in the
  background, stopped after the page's last block; ``PORT`` is a free port
  for the page), ``<!-- example: skip: <reason> -->`` (not run, reason
  required, printed in the summary), ``<!-- example: expect "<text>" -->``
  (stdout must contain the text).

Repository documents (every other ``*.md`` of the checkout, found by a scan
that leaves out ``SCAN_SKIPPED_DIRS`` and the files in ``EXCLUDED_DOCUMENTS``,
each with its reason) follow the same contract, with these differences:

- Each document with blocks in a run language is one test case, id its path
  in the repository (``README.md``, ``control-plane/docs/billing.md``).
- Each document runs on a fresh system of its own (set up like the guides':
  stand-in provider, ``gpt-4o-mini`` and ``gpt-4o``, gateway; it starts in
  well under a second): documents are written for a reader's own
  installation and create fixed example accounts (``dev@example.com``),
  which would collide between documents on a shared system.
- Every block gets the developer environment and the operator one (like an
  ``operator-…`` guide), so ``aihub admin …`` commands act on that system.
- The page's working directory stands in for the repository root after
  ``cargo build --release``: ``target/release/aihub`` (and the other
  binaries) link to the binaries under test, so ``./target/release/aihub``
  works as written.
- The guides' title, ``toc.json`` and translation checks do not apply.

A unit check makes sure nothing is missed: every Markdown file of the
checkout (as git lists it: tracked, or new and not ignored) that has a block
in a run language is a guide, a document of the scan, or excluded on purpose.

Besides the pages themselves, unit checks keep the guides consistent: every
directive is well-formed and attached to a fence, ``env`` blocks export only
provided names, every page in ``toc.json`` exists (developer pages in every
language), every page is listed, and a translation's code blocks equal the
English page's once comments are removed.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tokenize
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

import aihub
from conftest import (
    AIHUB_BIN,
    DOC_EXAMPLE_SKIPS,
    INTERNAL_SECRET,
    PASSWORD,
    TOKEN_SECRET,
    System,
    free_port,
    own_system,
)

REPO = Path(__file__).resolve().parents[4]
# AIHUB_DOCS_GUIDES: another guides folder (to try the runner on drafts).
GUIDES = Path(os.environ.get("AIHUB_DOCS_GUIDES") or REPO / "control-plane" / "docs" / "guides").resolve()
TOC = GUIDES / "toc.json"
SDK_SRC = REPO / "control-plane" / "sdk" / "python" / "src"
TS_SDK = REPO / "control-plane" / "sdk" / "typescript"
JS_DIR_NAME = ".doc-examples"

# The repository's guides always belong to the guides' runner (also when
# AIHUB_DOCS_GUIDES points elsewhere): the document scan leaves them out.
REPO_GUIDES = REPO / "control-plane" / "docs" / "guides"

# Directories the document scan does not enter, and why.
SCAN_SKIPPED_DIRS = {
    ".git": "git's own data",
    "node_modules": "installed npm packages (their own READMEs)",
    "target": "cargo's build output",
    "dist": "build output (the portal's, the TypeScript and Python SDKs' packages)",
    "__pycache__": "Python's bytecode cache",
    ".pytest_cache": "pytest's cache",
    ".venv": "a local Python environment",
    JS_DIR_NAME: "this runner's own temporary JavaScript files",
}

# Markdown files with blocks in a run language that this runner does not run
# (paths from the repository root), and why.
EXCLUDED_DOCUMENTS = {
    "control-plane/sdk/python/README.md": (
        "run by the Python SDK's own tests (control-plane/sdk/python/tests/test_readme.py runs its "
        "python blocks in order, in one namespace); its sh blocks are pip installs"
    ),
    "control-plane/sdk/typescript/README.md": (
        "run by the TypeScript SDK's own tests (control-plane/sdk/typescript/test/readme.test.mjs runs "
        "its js blocks as one module); its sh blocks are npm installs and builds"
    ),
}

BLOCK_TIMEOUT = 120.0
BASE_LANG = "en"

RUNNERS = {
    "sh": "sh",
    "bash": "sh",
    "shell": "sh",
    "python": "python",
    "js": "js",
    "javascript": "js",
}

# What every block's environment provides (and what an `env` block may export).
PROVIDED = {
    "AIHUB_SERVER",
    "AIHUB_BASE_URL",
    "AIHUB_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "AIHUB_EMAIL",
    "AIHUB_PASSWORD",
    "AIHUB_CREDENTIALS",
    "PORT",
}
OPERATOR_PROVIDED = {
    "AIHUB_DATABASE__URL",
    "AIHUB_AUTH__TOKEN_SECRET",
    "AIHUB_INTERNAL__SHARED_SECRET",
}

DIRECTIVE_RE = re.compile(r"^\s*<!--\s*example:\s*(.*?)\s*-->\s*$")
FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


# -- parsing ---------------------------------------------------------------


@dataclass
class Block:
    info: str
    lang: str  # first word of the info string, lower case
    code: str
    line: int  # 1-based line of the opening fence
    directives: List[str] = field(default_factory=list)

    @property
    def runner(self) -> Optional[str]:
        return RUNNERS.get(self.lang)

    def has(self, kind: str) -> bool:
        return any(d == kind or d.startswith(kind + ":") or d.startswith(kind + " ") for d in self.directives)

    @property
    def is_env(self) -> bool:
        return "env" in self.directives

    @property
    def is_background(self) -> bool:
        return "background" in self.directives

    @property
    def skip_reason(self) -> Optional[str]:
        for d in self.directives:
            if d == "skip" or d.startswith("skip:"):
                return d[len("skip") :].lstrip(":").strip()
        return None

    @property
    def expected(self) -> List[str]:
        out = []
        for d in self.directives:
            m = re.fullmatch(r'expect\s+"(.*)"', d, flags=re.S)
            if m:
                out.append(m.group(1))
        return out


@dataclass
class Page:
    path: Path
    lang: str
    slug: str
    blocks: List[Block]
    problems: List[str]  # malformed directives, unclosed fences
    document: bool = False  # a repository document, not a guide

    @property
    def id(self) -> str:
        return self.rel if self.document else f"{self.lang}/{self.slug}"

    @property
    def rel(self) -> str:
        try:
            return str(self.path.relative_to(REPO))
        except ValueError:
            return str(self.path)

    @property
    def operator(self) -> bool:
        return self.document or self.slug.startswith("operator-")

    @property
    def runs_code(self) -> bool:
        """Has a block in a run language (run, skipped, background or env)."""
        return any(b.runner for b in self.blocks)


def _valid_directive(d: str) -> bool:
    return (
        d in ("env", "background")
        or d == "skip"
        or d.startswith("skip:")
        or re.fullmatch(r'expect\s+"(.*)"', d, flags=re.S) is not None
    )


def parse_page(path: Path) -> Page:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: List[Block] = []
    problems: List[str] = []
    pending: List[Tuple[int, str]] = []  # directives waiting for their fence
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = DIRECTIVE_RE.match(line)
        if directive:
            text = directive.group(1)
            if not _valid_directive(text):
                problems.append(f"line {i + 1}: unknown example directive {text!r}")
            pending.append((i + 1, text))
            i += 1
            continue
        fence = FENCE_RE.match(line)
        if fence and not (fence.group("fence")[0] == "`" and "`" in fence.group("info")):
            indent = len(fence.group("indent"))
            mark = fence.group("fence")
            info = fence.group("info").strip()
            start = i
            body: List[str] = []
            i += 1
            closed = False
            while i < len(lines):
                close = re.match(r"^[ \t]*(`{3,}|~{3,})[ \t]*$", lines[i])
                if close and close.group(1)[0] == mark[0] and len(close.group(1)) >= len(mark):
                    closed = True
                    break
                text = lines[i]
                # Remove the fence's own indentation (fences inside list items).
                strip = 0
                while strip < indent and strip < len(text) and text[strip] in " \t":
                    strip += 1
                body.append(text[strip:])
                i += 1
            if not closed:
                problems.append(f"line {start + 1}: the fence is never closed")
            lang = info.split()[0].lower() if info else ""
            blocks.append(
                Block(
                    info=info,
                    lang=lang,
                    code="\n".join(body) + "\n",
                    line=start + 1,
                    directives=[t for _, t in pending],
                )
            )
            pending = []
            i += 1
            continue
        for at, text in pending:
            problems.append(f"line {at}: directive {text!r} is not on the line right before a fence")
        pending = []
        i += 1
    for at, text in pending:
        problems.append(f"line {at}: directive {text!r} is not followed by a fence")
    for b in blocks:
        if b.directives and b.runner is None and not b.is_env:
            problems.append(
                f"line {b.line}: directives {b.directives} on a {b.lang or 'plain'!s} block, which is never run"
            )
        if b.is_env and (b.is_background or b.expected or b.skip_reason is not None):
            problems.append(f"line {b.line}: an env block takes no other directive")
    return Page(path=path, lang=path.parent.name, slug=path.stem, blocks=blocks, problems=problems)


def all_pages() -> List[Page]:
    return [parse_page(p) for p in sorted(GUIDES.rglob("*.md"))]


def parse_document(path: Path) -> Page:
    page = parse_page(path)
    rel = path.relative_to(REPO).as_posix()
    page.document = True
    page.lang = "repo"
    page.slug = re.sub(r"[^A-Za-z0-9]+", "-", rel[: -len(".md")]).strip("-")
    return page


def scan_markdown() -> List[Path]:
    """Every ``*.md`` of the checkout outside ``SCAN_SKIPPED_DIRS`` and the
    repository's guides."""
    found: List[Path] = []
    for root, dirs, files in os.walk(REPO):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if d not in SCAN_SKIPPED_DIRS and here / d != REPO_GUIDES)
        found.extend(here / f for f in sorted(files) if f.endswith(".md"))
    return found


def all_documents() -> List[Page]:
    """The repository's documents the runner checks (every scanned file but
    the excluded ones)."""
    return [
        parse_document(p)
        for p in scan_markdown()
        if p.relative_to(REPO).as_posix() not in EXCLUDED_DOCUMENTS
    ]


# -- comment stripping (for comparing translations) -------------------------


def _strip_python(code: str) -> str:
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _strip_generic(code, line_comment="#", block_comments=False)


def _strip_sh(code: str) -> str:
    out: List[str] = []
    heredoc: Optional[str] = None
    quote: Optional[str] = None
    for line in code.split("\n"):
        if heredoc is not None:
            out.append(line)
            if line.strip() == heredoc:
                heredoc = None
            continue
        kept = []
        j = 0
        while j < len(line):
            c = line[j]
            if quote:
                kept.append(c)
                if c == "\\" and quote == '"' and j + 1 < len(line):
                    kept.append(line[j + 1])
                    j += 2
                    continue
                if c == quote:
                    quote = None
            elif c == "\\" and j + 1 < len(line):
                kept.append(line[j : j + 2])
                j += 2
                continue
            elif c in "'\"":
                quote = c
                kept.append(c)
            elif c == "#" and (j == 0 or line[j - 1] in " \t;|&("):
                break
            else:
                kept.append(c)
            j += 1
        text = "".join(kept)
        m = re.search(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?", text) if quote is None else None
        if m:
            heredoc = m.group(1)
        out.append(text)
    return "\n".join(out)


def _strip_generic(code: str, line_comment: str, block_comments: bool) -> str:
    out: List[str] = []
    quote: Optional[str] = None
    j = 0
    n = len(code)
    while j < n:
        c = code[j]
        if quote:
            out.append(c)
            if c == "\\" and j + 1 < n:
                out.append(code[j + 1])
                j += 2
                continue
            if c == quote or (c == "\n" and quote != "`"):
                quote = None
            j += 1
            continue
        if c in "'\"`":
            quote = c
            out.append(c)
            j += 1
            continue
        if block_comments and code.startswith("/*", j):
            end = code.find("*/", j + 2)
            j = n if end < 0 else end + 2
            continue
        if code.startswith(line_comment, j):
            end = code.find("\n", j)
            j = n if end < 0 else end
            continue
        out.append(c)
        j += 1
    return "".join(out)


def strip_comments(block: Block) -> str:
    runner = block.runner
    if runner == "python":
        code = _strip_python(block.code)
    elif runner == "js":
        code = _strip_generic(block.code, line_comment="//", block_comments=True)
    else:
        code = _strip_sh(block.code)
    lines = [line.rstrip() for line in code.split("\n")]
    return "\n".join(line for line in lines if line.strip())


def comparable(page: Page) -> List[Tuple[str, str, str]]:
    """The page's code as a translation must keep it: every block in a run
    language (run, background, skipped or env), its directive kinds and its
    code without comments."""
    out = []
    for b in page.blocks:
        if b.runner is None:
            continue
        kinds = sorted(
            ("skip" if d.startswith("skip") else d) for d in b.directives
        )
        out.append((b.runner, " ".join(kinds), strip_comments(b)))
    return out


# -- env blocks --------------------------------------------------------------

ENV_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")


def env_block_problems(page: Page) -> List[str]:
    allowed = PROVIDED | (OPERATOR_PROVIDED if page.operator else set())
    problems = []
    for b in page.blocks:
        if not b.is_env:
            continue
        for k, line in enumerate(b.code.split("\n")):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            m = ENV_LINE_RE.match(line)
            if not m:
                problems.append(
                    f"{page.rel}:{b.line + 1 + k}: an env block may only set variables: {stripped!r}"
                )
            elif m.group(1) not in allowed:
                problems.append(
                    f"{page.rel}:{b.line + 1 + k}: {m.group(1)} is not provided by the examples runner "
                    f"(provided: {', '.join(sorted(allowed))})"
                )
    return problems


# -- running ---------------------------------------------------------------


@dataclass
class Outcome:
    code: Optional[int]
    stdout: str
    stderr: str
    timed_out: bool = False


def _tail(text: str, limit: int = 8000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _numbered(code: str) -> str:
    return "\n".join(f"{k + 1:4} | {line}" for k, line in enumerate(code.rstrip("\n").split("\n")))


class PageRun:
    """Runs one page's blocks in a fresh directory; cleans up after itself."""

    def __init__(self, page: Page, env: Dict[str, str]) -> None:
        self.page = page
        self.env = env
        self.work = Path(tempfile.mkdtemp(prefix=f"aihub-doc-{page.lang}-{page.slug}-"))
        self.scripts = Path(tempfile.mkdtemp(prefix="aihub-doc-scripts-"))
        self.js_dir: Optional[Path] = None
        self.background: List[Tuple[Block, subprocess.Popen, Path, Path]] = []

    def _js_dir(self) -> Path:
        if self.js_dir is None:
            node_modules = TS_SDK / "node_modules"
            if not node_modules.is_dir():
                pytest.fail(
                    f"{self.page.rel} has JavaScript examples, which need {node_modules}: "
                    f"run `npm ci` in {TS_SDK} (and build the SDK) first"
                )
            self.js_dir = TS_SDK / JS_DIR_NAME / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.js_dir.mkdir(parents=True)
        return self.js_dir

    def command(self, index: int, block: Block) -> List[str]:
        name = f"{self.page.lang}-{self.page.slug}-block{index + 1}-line{block.line}"
        if block.runner == "sh":
            script = self.scripts / f"{name}.sh"
            script.write_text(block.code, encoding="utf-8")
            return ["bash", "-euo", "pipefail", str(script)]
        if block.runner == "python":
            script = self.scripts / f"{name}.py"
            script.write_text(block.code, encoding="utf-8")
            return [sys.executable, str(script)]
        script = self._js_dir() / f"{name}.mjs"
        script.write_text(block.code, encoding="utf-8")
        return ["node", str(script)]

    def run(self, index: int, block: Block) -> Outcome:
        args = self.command(index, block)
        if block.is_background:
            out = self.scripts / f"background{index + 1}.out"
            err = self.scripts / f"background{index + 1}.err"
            popen = subprocess.Popen(
                args,
                cwd=self.work,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=open(out, "wb"),
                stderr=open(err, "wb"),
                start_new_session=True,
            )
            self.background.append((block, popen, out, err))
            return Outcome(code=0, stdout="", stderr="")
        popen = subprocess.Popen(
            args,
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = popen.communicate(timeout=BLOCK_TIMEOUT)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(popen)
            stdout, stderr = popen.communicate()
            timed_out = True
        return Outcome(
            code=popen.returncode,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            timed_out=timed_out,
        )

    def background_report(self) -> str:
        parts = []
        for block, popen, out, err in self.background:
            parts.append(
                f"--- background block at line {block.line} (exit {popen.poll()}) ---\n"
                f"stdout:\n{_tail(out.read_text(errors='replace'), 3000)}\n"
                f"stderr:\n{_tail(err.read_text(errors='replace'), 3000)}"
            )
        return "\n".join(parts)

    def close(self) -> None:
        for _, popen, _, _ in self.background:
            _kill_group(popen)
        if self.js_dir is not None:
            shutil.rmtree(self.js_dir, ignore_errors=True)
            try:
                self.js_dir.parent.rmdir()  # only when no other run uses it
            except OSError:
                pass
        shutil.rmtree(self.scripts, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


def _kill_group(popen: subprocess.Popen) -> None:
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        popen.wait(timeout=5)


def page_env(system: System, page: Page, work: Path) -> Dict[str, str]:
    """A fresh verified developer with a live key, as environment variables."""
    address = system.verified_developer(f"docs-{page.slug}"[:40].rstrip("-"))
    with aihub.Client(system.base_url, timeout=30) as client:
        client.login(address, PASSWORD)
        key = client.keys.create(f"docs {page.id}")
        client.wait_for_key(key["secret"])
    env = dict(os.environ)
    for name in list(env):
        # Nothing of the test process's own AI Hub or OpenAI settings leaks in.
        if name.startswith(("AIHUB_", "OPENAI_")):
            del env[name]
    env.update(
        AIHUB_SERVER=system.base_url,
        AIHUB_BASE_URL=system.base_url + "/v1",
        AIHUB_API_KEY=key["secret"],
        OPENAI_BASE_URL=system.base_url + "/v1",
        OPENAI_API_KEY=key["secret"],
        AIHUB_EMAIL=address,
        AIHUB_PASSWORD=PASSWORD,
        AIHUB_CREDENTIALS=str(work / "aihub-credentials.json"),
        PORT=str(free_port()),
        PATH=os.pathsep.join([str(AIHUB_BIN.parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in [str(SDK_SRC), env.get("PYTHONPATH", "")] if p),
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    if page.operator:
        env.update(
            AIHUB_DATABASE__URL=system.database_url,
            AIHUB_AUTH__TOKEN_SECRET=TOKEN_SECRET,
            AIHUB_INTERNAL__SHARED_SECRET=INTERNAL_SECRET,
        )
    return env


def link_release_binaries(work: Path) -> None:
    """``target/release/<binary>`` in ``work`` for every binary under test, as
    in the repository root after ``cargo build --release``."""
    release = work / "target" / "release"
    release.mkdir(parents=True)
    for binary in sorted(AIHUB_BIN.parent.glob("aihub*")):
        if binary.is_file() and os.access(binary, os.X_OK) and not binary.suffix:
            (release / binary.name).symlink_to(binary)


PAGES = all_pages()
ALL_DOCUMENTS = all_documents()
DOCUMENTS = [d for d in ALL_DOCUMENTS if d.runs_code]


def runnable_blocks(page: Page) -> List[Block]:
    return [b for b in page.blocks if b.runner and not b.is_env]


@pytest.mark.parametrize("page", PAGES, ids=[p.id for p in PAGES])
def test_page_examples(system: System, page: Page) -> None:
    assert not page.problems, f"{page.rel}: " + "; ".join(page.problems)
    if not runnable_blocks(page):
        return  # a reference page without examples
    run_page(system, page)


@pytest.mark.parametrize("page", DOCUMENTS, ids=[p.id for p in DOCUMENTS])
def test_document_examples(page: Page) -> None:
    assert not page.problems, f"{page.rel}: " + "; ".join(page.problems)
    blocks = runnable_blocks(page)
    if all(b.skip_reason is not None for b in blocks):
        for b in blocks:
            DOC_EXAMPLE_SKIPS.append(f"{page.rel}:{b.line} ({b.lang}): {b.skip_reason}")
        return  # nothing to run: no system needed
    with own_system(prefix=f"aihub-doc-system-{page.slug}-"[:60]) as system:
        run_page(system, page, show_logs=True)


def run_page(system: System, page: Page, show_logs: bool = False) -> None:
    """Runs the page's blocks in order; fails with the first failing block."""
    for b in runnable_blocks(page):
        if b.skip_reason is not None:
            DOC_EXAMPLE_SKIPS.append(f"{page.rel}:{b.line} ({b.lang}): {b.skip_reason}")
    run = PageRun(page, {})
    try:
        if page.document:
            link_release_binaries(run.work)
        run.env = page_env(system, page, run.work)
        for index, block in enumerate(page.blocks):
            if block.runner is None or block.is_env or block.skip_reason is not None:
                continue
            outcome = run.run(index, block)
            missing = [t for t in block.expected if t not in outcome.stdout]
            if outcome.code == 0 and not outcome.timed_out and not missing:
                continue
            if outcome.timed_out:
                why = f"timed out after {BLOCK_TIMEOUT:.0f} s"
            elif outcome.code != 0:
                why = f"exited with {outcome.code}"
            else:
                why = "stdout lacks " + ", ".join(json.dumps(t, ensure_ascii=False) for t in missing)
            pytest.fail(
                f"{page.rel}:{block.line}: {block.info or block.lang} block {why}\n"
                f"=== block ===\n{_numbered(block.code)}\n"
                f"=== stdout ===\n{_tail(outcome.stdout)}\n"
                f"=== stderr ===\n{_tail(outcome.stderr)}\n"
                + (f"=== background blocks ===\n{run.background_report()}\n" if run.background else "")
                + (
                    f"(cwd {run.work})\n=== AI Hub logs ===\n{system.logs()}"
                    if show_logs
                    else f"(cwd {run.work}; the AI Hub logs follow)"
                ),
                pytrace=False,
            )
    finally:
        run.close()


# -- unit checks -------------------------------------------------------------


def _toc() -> dict:
    return json.loads(TOC.read_text(encoding="utf-8"))


def test_pages_are_found() -> None:
    assert any(p.lang == BASE_LANG for p in PAGES), f"no guides under {GUIDES / BASE_LANG}"


def test_documents_are_found() -> None:
    ids = [d.id for d in DOCUMENTS]
    assert "README.md" in ids, f"README.md is not among the documents the runner runs: {ids}"
    assert not [d for d in DOCUMENTS if REPO_GUIDES in d.path.parents], "guides are run as guides, not documents"


def repo_markdown() -> List[Path]:
    """Every Markdown file of the checkout as git sees it: tracked, or new
    and not ignored (so installed packages and build output are not ours).
    Without git: every ``*.md`` outside ``.git`` and ``node_modules``."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.md"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8")
        return sorted({REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()})
    except (OSError, subprocess.SubprocessError):
        found: List[Path] = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in (".git", "node_modules")]
            found.extend(Path(root) / f for f in files if f.endswith(".md"))
        return sorted(found)


def test_every_markdown_file_with_examples_is_run_or_excluded() -> None:
    """A Markdown file with a block in a run language is a guide, one of the
    documents this runner runs, or in EXCLUDED_DOCUMENTS with a reason."""
    documents = {d.path.resolve() for d in DOCUMENTS}
    missed = []
    for path in repo_markdown():
        rel = path.relative_to(REPO).as_posix()
        if rel in EXCLUDED_DOCUMENTS or REPO_GUIDES in path.parents or path.resolve() in documents:
            continue
        page = parse_page(path)
        if page.runs_code:
            langs = sorted({b.lang for b in page.blocks if b.runner})
            missed.append(f"{rel} ({', '.join(langs)} blocks)")
    assert not missed, (
        "Markdown files with blocks in a run language (" + ", ".join(sorted(RUNNERS)) + ") that the examples "
        "runner neither runs nor excludes: " + "; ".join(missed) + ". Move them out of the directories the "
        "scan skips (SCAN_SKIPPED_DIRS), or add them to EXCLUDED_DOCUMENTS with the reason."
    )


def test_exclusions_are_current() -> None:
    problems = []
    for rel, reason in EXCLUDED_DOCUMENTS.items():
        path = REPO / rel
        if not reason.strip():
            problems.append(f"{rel}: an exclusion needs its reason")
        if not path.is_file():
            problems.append(f"{rel} is excluded but does not exist")
        elif not parse_page(path).runs_code:
            problems.append(f"{rel} is excluded but has no block in a run language: drop the exclusion")
    problems += [f"{d}/: a skipped directory needs its reason" for d, why in SCAN_SKIPPED_DIRS.items() if not why.strip()]
    assert not problems, "\n".join(problems)


def test_directives_are_well_formed() -> None:
    problems = [f"{p.rel}: {q}" for p in PAGES + ALL_DOCUMENTS for q in p.problems]
    assert not problems, "\n".join(problems)


def test_every_skip_has_a_reason() -> None:
    missing = [
        f"{p.rel}:{b.line}"
        for p in PAGES + ALL_DOCUMENTS
        for b in p.blocks
        if b.skip_reason is not None and not b.skip_reason
    ]
    assert not missing, "skip directives without a reason (`<!-- example: skip: why -->`): " + ", ".join(missing)


def test_env_blocks_only_export_provided_names() -> None:
    problems = [q for p in PAGES + ALL_DOCUMENTS for q in env_block_problems(p)]
    assert not problems, "\n".join(problems)


def test_pages_start_with_a_title() -> None:
    bad = [p.rel for p in PAGES if not p.path.read_text(encoding="utf-8").startswith("# ")]
    assert not bad, "a guide starts with `# Title` on line 1: " + ", ".join(bad)


def test_toc_lists_every_page_in_every_language() -> None:
    toc = _toc()
    langs = sorted(d.name for d in GUIDES.iterdir() if d.is_dir())
    assert BASE_LANG in langs
    listed: Dict[str, str] = {}
    problems: List[str] = []
    for section in toc["sections"]:
        for slug in section["pages"]:
            if slug == "api":
                problems.append(f"section {section['id']}: slug `api` is reserved for the API reference")
            if slug in listed:
                problems.append(f"{slug} is listed twice")
            listed[slug] = section["audience"]
            wanted = langs if section["audience"] == "developers" else [BASE_LANG]
            for lang in wanted:
                if not (GUIDES / lang / f"{slug}.md").is_file():
                    problems.append(f"{lang}/{slug}.md is missing (listed in toc.json, section {section['id']})")
    for page in PAGES:
        if page.path.parent.parent != GUIDES:
            problems.append(f"{page.rel} is outside <lang>/ folders")
        elif page.slug not in listed:
            problems.append(f"{page.rel} is not listed in toc.json")
        elif page.lang != BASE_LANG and listed[page.slug] != "developers":
            problems.append(f"{page.rel}: operator pages are English only")
    assert not problems, "\n".join(problems)


def test_translations_keep_the_tested_code() -> None:
    base = {p.slug: p for p in PAGES if p.lang == BASE_LANG}
    problems = []
    for page in PAGES:
        if page.lang == BASE_LANG or page.slug not in base:
            continue
        ours, theirs = comparable(page), comparable(base[page.slug])
        if ours == theirs:
            continue
        if len(ours) != len(theirs):
            problems.append(
                f"{page.rel} has {len(ours)} code blocks in run languages, "
                f"{base[page.slug].rel} has {len(theirs)}"
            )
            continue
        for k, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                problems.append(
                    f"{page.rel}: code block {k + 1} differs from {base[page.slug].rel} "
                    f"(comments aside)\n--- {page.lang} ---\n{a[0]} [{a[1]}]\n{a[2]}\n"
                    f"--- {BASE_LANG} ---\n{b[0]} [{b[1]}]\n{b[2]}"
                )
    assert not problems, "\n\n".join(problems)


# -- checks of the checks ------------------------------------------------------


def _parse_text(tmp_path: Path, text: str, lang: str = "en", slug: str = "sample") -> Page:
    path = tmp_path / lang / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return parse_page(path)


def test_parser_reads_directives(tmp_path: Path) -> None:
    page = _parse_text(
        tmp_path,
        "# T\n\n<!-- example: env -->\n```sh\nexport AIHUB_API_KEY=x\nexport SECRET=y\n```\n"
        '<!-- example: skip: needs docker -->\n```bash\ndocker run x\n```\n'
        '<!-- example: expect "hi" -->\n```python\nprint("hi")\n```\n'
        "1. step\n\n   ```js\n   console.log(1)\n   ```\n"
        "<!-- example: skip -->\n\n```sh\nx\n```\n<!-- example: nonsense -->\n```sh\ny\n```\n",
    )
    assert [b.lang for b in page.blocks] == ["sh", "bash", "python", "js", "sh", "sh"]
    assert page.blocks[0].is_env
    assert page.blocks[1].skip_reason == "needs docker"
    assert page.blocks[2].expected == ["hi"]
    assert page.blocks[3].code == "console.log(1)\n"
    assert page.blocks[4].directives == []
    assert any("not on the line right before a fence" in q for q in page.problems)
    assert any("unknown example directive" in q for q in page.problems)
    problems = env_block_problems(page)
    assert len(problems) == 1 and "SECRET" in problems[0]


def test_comment_stripping_ignores_only_comments(tmp_path: Path) -> None:
    en = _parse_text(
        tmp_path,
        "# T\n```python\nimport os  # the key\nprint('#1')\n```\n"
        "```sh\n# first\ncurl -fsS \"$AIHUB_BASE_URL/models#x\" # list\ncat <<'EOF'\n# kept\nEOF\n```\n"
        "```js\n// hi\nconst a = 'x//y'; /* note */\n```\n",
    )
    zh = _parse_text(
        tmp_path,
        "# T\n```python\nimport os  # 密钥\nprint('#1')\n```\n"
        "```sh\n# 第一步\ncurl -fsS \"$AIHUB_BASE_URL/models#x\" # 列出\ncat <<'EOF'\n# kept\nEOF\n```\n"
        "```js\n// 你好\nconst a = 'x//y'; /* 注释 */\n```\n",
        lang="zh-CN",
    )
    assert comparable(en) == comparable(zh)
    assert "print('#1')" in comparable(en)[0][2]
    assert "# kept" in comparable(en)[1][2]
    changed = _parse_text(tmp_path, "# T\n```python\nimport sys\n```\n", lang="zh-CN", slug="other")
    assert comparable(changed)[0] != comparable(en)[0]

