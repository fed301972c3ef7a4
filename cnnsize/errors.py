"""Exceptions raised for bad user input; every message is meant to be read by a student."""

from __future__ import annotations


class CnnsizeError(Exception):
    """Base class: a problem with the user's spec, claims or options (CLI exit status 2)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        path: str | None = None,
        kind: str | None = None,
        field: str | None = None,
        formula: str | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = message
        self.detail = detail
        self.source = source
        self.path = path
        self.kind = kind
        self.field = field
        self.formula = formula
        self.hint = hint
        super().__init__(self.render())

    def located(self, *, source: str | None = None, path: str | None = None,
                kind: str | None = None) -> CnnsizeError:
        """Fill in location details that were not known where the error was raised."""
        self.source = self.source or source
        self.path = self.path or path
        self.kind = self.kind or kind
        self.args = (self.render(),)
        return self

    def render(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.path:
            where.append(f"{self.path} ({self.kind})" if self.kind else self.path)
        head = ": ".join(where)
        body = f"{self.field}: {self.message}" if self.field else self.message
        lines = [f"{head}: {body}" if head else body]
        if self.detail:
            lines.append(f"  {self.detail}")
        if self.formula:
            lines.append(f"  formula: {self.formula}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class SpecError(CnnsizeError):
    """The spec is malformed: unknown kind or key, wrong type, missing argument."""


class ShapeError(CnnsizeError):
    """The spec is well formed but a size does not work out (zero, negative, mismatched)."""


class SpecTypeError(SpecError, TypeError):
    """A library call got a value of the wrong type (a CLI error too: exit status 2)."""


class MissingExtra(CnnsizeError, ImportError):
    """A command needs a library of an optional extra (pip install 'cnnsize[torch]')."""
