"""The records that hold a published study's numbers and facts as data (pure Python, standard library only).

Conventions, the same in every module of :mod:`analysis.papers`:

- ``value`` (or ``text``) is None exactly when the study does not state it; the note then says
  :data:`NOT_TRANSCRIBED` and why.
- ``source`` names the part of the document that states it: ``"Table 1"``, ``"sec. 5.3"``, ``"Fig. 9
  caption"``, ``"abstract"``; a value of an accompanying document names that document first
  (``"slides, launch line"``, ``"news item"``).
- ``printed`` is the number as the document prints it (``"5hrs 31mins"``, ``"19.2X"``, ``"313,282"``): a few
  characters that the tests find in the stored text of the document, so that every transcribed value is
  checked against its source.
- A value that the document does not print is derived (the note starts with :data:`DERIVED` and gives the
  arithmetic) or inferred (:data:`INFERRED`: read from the setting, not from arithmetic; the note says from
  what); neither has ``printed``.
- Where a study contradicts itself both values are kept, each with its source, and a :class:`Contradiction`
  names them and explains.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Why a value is None (the same words in every note, so that they can be searched for).
NOT_TRANSCRIBED = "not transcribed"
#: How the note of a value computed from other published values starts.
DERIVED = "derived:"
#: How the note of a value read from the setting (not printed, not computed) starts.
INFERRED = "inferred:"


@dataclass(frozen=True)
class Published:
    """One published number.

    Attributes:
        value: the number (None: not stated by the document; see the note).
        unit: ``"images/s"``, ``"minutes"``, ``"GB"``, ``"epochs"``, ``"x"``, ``"Gb/s"``, ...
        source: where the document states it (table, section, caption, slide).
        note: what it is, how it is stated, or why it is None; ``"derived: ..."`` / ``"inferred: ..."`` for a
            value the document does not print.
        printed: the number as printed in the document (empty for a derived, inferred or missing value).
    """

    value: float | int | None
    unit: str
    source: str
    note: str = ""
    printed: str = ""

    @property
    def known(self) -> float:
        """``value``, for a number that was transcribed. Raises ``ValueError`` for one that was not."""
        if self.value is None:
            raise ValueError(f"{self.source}, {self.unit}: no value ({self.note})")
        return self.value

    @property
    def derived(self) -> bool:
        """Whether the value is computed or inferred rather than printed."""
        return self.note.startswith((DERIVED, INFERRED))


@dataclass(frozen=True)
class Fact:
    """One published setting that is not a number (a software version, a flag, a data format), with the same
    ``source``, ``note`` and ``printed`` rules as :class:`Published`; ``text`` None: not stated."""

    text: str | None
    source: str
    note: str = ""
    printed: str = ""


@dataclass(frozen=True)
class Contradiction:
    """Where a study (or a study and its accompanying documents) says two things about one quantity:
    ``topic``, the ``claims`` as (source, what it says) pairs, and an ``explanation`` (which is which, and
    what the suite uses)."""

    topic: str
    claims: tuple[tuple[str, str], ...]
    explanation: str


def stated(value: float | int, unit: str, source: str, printed: str, note: str = "") -> Published:
    """A value the document prints (as ``printed``) at ``source``."""
    return Published(value, unit, source, note, printed)


def derived(value: float | int, unit: str, source: str, how: str) -> Published:
    """A value computed from published ones: ``how`` gives the arithmetic; ``source`` the values' sources."""
    return Published(value, unit, source, f"{DERIVED} {how}")


def inferred(value: float | int, unit: str, source: str, how: str) -> Published:
    """A value read from the setting at ``source`` (neither printed nor computed): ``how`` says from what."""
    return Published(value, unit, source, f"{INFERRED} {how}")


def missing(unit: str, source: str, why: str) -> Published:
    """A value the document does not state (None): ``why`` names what is missing, and where one would look."""
    return Published(None, unit, source, f"{NOT_TRANSCRIBED}: {why}")
