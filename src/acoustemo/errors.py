"""Errors that reach the user as one line: what is wrong, and where (file, sample, field)."""


class AcoustemoError(Exception):
    """Base class of the errors the command line prints as one line and exits with status 2."""


class ConfigError(AcoustemoError, ValueError):
    """An unknown key or an impossible value in a configuration."""


class InputError(AcoustemoError, ValueError):
    """Bad user input: a missing or unreadable file, a malformed row, a missing field.

    The message names the file and, where it applies, the sample (or row) and the field.
    ``problems`` holds every problem found when there were several (the message shows the first).
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]

    @classmethod
    def from_problems(cls, problems: list[str], what: str = "problems") -> "InputError":
        """One error for a list of problems: the first as the message, ``(and N more problems)`` after it."""
        more = f" (and {len(problems) - 1} more {what})" if len(problems) > 1 else ""
        return cls(problems[0] + more, problems)


def where(path=None, sample=None, field=None, row=None) -> str:
    """``"data.jsonl: sample 'a1', field 'labels'"``: the location prefix of an :class:`InputError`."""
    parts = []
    if path is not None:
        parts.append(str(path))
    if row is not None:
        parts.append(f"row {row}")
    if sample is not None:
        parts.append(f"sample {sample!r}")
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def excerpt(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks the cut): how messages quote user values."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(message: str, limit: int = 500) -> str:
    """A message on one line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TrainingError(AcoustemoError, RuntimeError):
    """A run that cannot go on (its loss became NaN or infinite); checkpoints written before stay."""
