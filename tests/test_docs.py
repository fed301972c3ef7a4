"""Every command shown in the docs runs, and every transcript in them is real.

A fenced block whose first line is `$ cnnsize ...` is a transcript: the command is run from the
repository root and the lines after it must match its output; a line `...` or `…` stands for
lines left out. Other `cnnsize ...` lines in ```bash blocks must run without a traceback.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"])
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
ELISION = ("...", "…")
SKIP = ("cnnsize reports",)  # rewrites reports/: covered by tests/test_compare_plot_reports.py


def _blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text(encoding="utf-8"))


def transcripts() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in DOCS:
        for block in _blocks(path):
            lines = block.rstrip("\n").split("\n")
            if lines and lines[0].startswith("$ cnnsize "):
                out.append((path.name, lines[0][2:], lines[1:]))
    return out


def commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```(?:bash|sh|shell)\n(.*?)^```", text, re.S | re.M):
            for line in match.group(1).splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("cnnsize ") and not line.startswith(SKIP):
                    out.append((path.name, line))
    return out


def run(command: str) -> subprocess.CompletedProcess[str]:
    shell = any(c in command for c in (";", "|", "&&", ">", "$?"))
    argv = command if shell else [sys.executable, "-m", "cnnsize", *shlex.split(command)[1:]]
    if shell:
        command = command.replace("cnnsize ", f"{shlex.quote(sys.executable)} -m cnnsize ", 1)
    return subprocess.run(command if shell else argv, shell=shell, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=None)


def matches(shown: list[str], actual: list[str]) -> str | None:
    """None when `shown` is `actual` with elided runs; else the first line that differs."""
    i, skipping = 0, False
    for line in shown:
        if line.strip() in ELISION:
            skipping = True
            continue
        if skipping:
            while i < len(actual) and actual[i].rstrip() != line.rstrip():
                i += 1
        if i >= len(actual) or actual[i].rstrip() != line.rstrip():
            return f"expected {line!r}, got {actual[i] if i < len(actual) else '<end>'!r}"
        i, skipping = i + 1, False
    if not skipping and i != len(actual):
        return f"output goes on after the transcript: {actual[i]!r}"
    return None


@pytest.mark.parametrize(("doc", "command", "shown"), transcripts(),
                         ids=[f"{d}:{c[:60]}" for d, c, _ in transcripts()])
def test_transcript_is_real(doc, command, shown):
    proc = run(command)
    actual = (proc.stdout + proc.stderr).rstrip("\n").split("\n")
    problem = matches(shown, actual)
    assert problem is None, f"{doc}: `{command}`: {problem}"


@pytest.mark.parametrize(("doc", "command"), commands(),
                         ids=[f"{d}:{c[:60]}" for d, c in commands()])
def test_command_runs(doc, command, tmp_path):
    command = re.sub(r"(-o|--output) (\S+)", lambda m: f"{m.group(1)} {tmp_path / Path(m.group(2)).name}",
                     command)
    proc = run(command)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), f"{doc}: `{command}` exited {proc.returncode}: {proc.stderr}"


def test_spec_tables_list_every_kind():
    """docs/spec.md has each registered kind's row, its arguments and defaults as they are."""
    from cnnsize.layers import REGISTRY

    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    missing = [cls.docs_row() for cls in REGISTRY.values() if cls.docs_row() not in text]
    assert not missing, "docs/spec.md lacks or misstates:\n" + "\n".join(missing)


def test_there_are_transcripts():
    assert len(transcripts()) >= 5


def _refreshed(shown: list[str], actual: list[str]) -> list[str]:
    """An elided transcript with each shown line that no longer appears replaced by the one
    actual line that starts with the same three words (where there is exactly one)."""
    def key(line: str) -> tuple[str, ...]:
        if line.strip() and set(line.strip()) <= {"-", " "}:
            return ("a table's rule",)  # its widths change with the rows
        return tuple(line.split()[:3])

    out = []
    for line in shown:
        if line.strip() in ELISION or line.rstrip() in (a.rstrip() for a in actual):
            out.append(line)
            continue
        same = [a for a in actual if key(a) == key(line) and key(line)]
        out.append(same[0] if len(same) == 1 else line)
    return out


def update(paths: list[Path]) -> int:
    """Rewrite the transcripts of `paths` from real runs; in those with elisions, the shown
    lines that changed (matched by their first words)."""
    changed = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")

        def refresh(match: re.Match[str]) -> str:
            nonlocal changed
            head, body = match.group(1), match.group(2)
            lines = body.rstrip("\n").split("\n")
            if not lines[0].startswith("$ cnnsize "):
                return match.group(0)
            proc = run(lines[0][2:])
            actual = (proc.stdout + proc.stderr).rstrip("\n").split("\n")
            if any(x.strip() in ELISION for x in lines):
                new = "\n".join([lines[0], *_refreshed(lines[1:], actual)]) + "\n"
            else:
                new = lines[0] + "\n" + "\n".join(actual) + "\n"
            changed += new != body
            return f"{head}{new}```"

        path.write_text(re.sub(r"^(```[^\n]*\n)(.*?)^```", refresh, text, flags=re.S | re.M),
                        encoding="utf-8")
    return changed


if __name__ == "__main__":  # python -m tests.test_docs docs/x.md ...: refresh transcripts
    print(f"{update([Path(p) for p in sys.argv[1:]] or DOCS)} transcripts updated")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls exactly the README's second command; the first installs every extra."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Two commands"):readme.index("## Installing")]
    commands = [line for line in section.splitlines() if line.startswith("python -m pip")]
    assert len(commands) == 2, commands
    assert "'.[all]'" in commands[0] and "cnnsize report" in commands[0]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert commands[1] in ci, (commands[1], ci)
    assert "torchvision" in commands[1]  # the torchvision tests run in CI, not skip


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, -1, -2 on
    repeats. Headings inside code fences are not headings."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_links_and_anchors_resolve():
    """Every relative link in README.md and docs/ names a file that exists, and its #anchor a
    heading of that file."""
    broken = []
    for path in DOCS:
        text = FENCE.sub("", path.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
