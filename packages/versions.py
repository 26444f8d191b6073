"""NuGet version rules: the one module that knows them; everything else calls these.

SemVer 2 as NuGet applies it:

- one to four numeric parts; missing parts are 0, leading zeros are dropped, and a
  fourth part ("revision") of 0 is dropped from the normalized form
  (``1.01`` → ``1.1.0``, ``1.0.0.0`` → ``1.0.0``, ``1.0.0.5`` stays ``1.0.0.5``);
- an optional prerelease label ``-alpha.1``: dot-separated identifiers of
  ``[0-9A-Za-z-]``, compared case-insensitively;
- optional build metadata ``+build.5``, kept in ``metadata`` but ignored for
  equality, ordering and the normalized form.

``parse`` returns a ``NuGetVersion`` or ``None`` and never raises, so every
version that reaches the registry went through it.
"""

import re
from dataclasses import dataclass

# nuget.org refuses longer version strings; the bound also keeps the regex cheap.
MAX_LENGTH = 64
# NuGet parses each numeric part as a .NET Int32.
MAX_PART = 2**31 - 1

# ASCII classes only (\d would admit other scripts' digits) and fullmatch, so a
# trailing newline cannot slip through as it would with "$".
_VERSION = re.compile(
    r"""
    (?P<numbers>[0-9]+(?:\.[0-9]+){0,3})
    (?:-(?P<release>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    (?:\+(?P<metadata>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, eq=False)
class NuGetVersion:
    """A parsed version. Equality, hashing and ordering follow NuGet (see ``sort_key``)."""

    major: int
    minor: int
    patch: int
    revision: int
    release_labels: tuple[str, ...]
    metadata: str
    original: str

    @property
    def normalized(self) -> str:
        """The form NuGet compares and stores: ``1.0.0``, ``1.0.0.5``, ``1.0.0-beta.2``."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.revision:
            text += f".{self.revision}"
        if self.release_labels:
            text += "-" + ".".join(self.release_labels)
        return text

    @property
    def normalized_with_metadata(self) -> str:
        """``normalized`` plus ``+metadata`` when there is some (NuGet's "full string")."""
        return f"{self.normalized}+{self.metadata}" if self.metadata else self.normalized

    @property
    def is_prerelease(self) -> bool:
        return bool(self.release_labels)

    @property
    def is_semver2(self) -> bool:
        """True when SemVer 1 clients cannot read it: a dotted prerelease label
        (``1.0.0-beta.1``) or build metadata (``1.0.0+abc``)."""
        return len(self.release_labels) > 1 or bool(self.metadata)

    def __str__(self) -> str:
        return self.normalized

    # Equality and hashing use the same key as ordering, so that a == b exactly
    # when neither sorts before the other, and equal versions share a hash.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return sort_key(self) == sort_key(other)

    def __hash__(self) -> int:
        return hash(sort_key(self))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return sort_key(self) < sort_key(other)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return sort_key(self) <= sort_key(other)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return sort_key(self) > sort_key(other)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return sort_key(self) >= sort_key(other)


def _label_key(label: str) -> tuple[int, int, str]:
    # Numeric identifiers sort numerically and before alphanumeric ones. parse()
    # refuses leading zeros in them, so a number has exactly one spelling and
    # comparing the int is consistent with comparing the text.
    if label.isascii() and label.isdigit():
        return (0, int(label), "")
    # Identifiers hold only [0-9A-Za-z-]: ordinal order on lower case is the same
    # as .NET's OrdinalIgnoreCase (which upper-cases) for this alphabet.
    return (1, 0, label.lower())


def sort_key(version: NuGetVersion) -> tuple:
    """A key that sorts versions as NuGet does: ``sorted(vs, key=sort_key)``.

    Numeric parts first; then a release sorts after every prerelease of the same
    numbers; then labels identifier by identifier, a shorter list first when one
    is a prefix of the other. Metadata plays no part.
    """
    return (
        version.major,
        version.minor,
        version.patch,
        version.revision,
        0 if version.release_labels else 1,
        tuple(_label_key(label) for label in version.release_labels),
    )


def parse(text: str) -> NuGetVersion | None:
    """The version ``text`` denotes, or ``None`` if NuGet would refuse it. Never raises."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    match = _VERSION.fullmatch(text)
    if match is None:
        return None

    numbers = [int(part) for part in match["numbers"].split(".")]
    if any(number > MAX_PART for number in numbers):
        return None
    numbers += [0] * (4 - len(numbers))

    labels = tuple(match["release"].split(".")) if match["release"] else ()
    # SemVer 2 and NuGet: "0" is a number, "01" is neither a number nor allowed.
    if any(len(label) > 1 and label[0] == "0" and label.isdigit() for label in labels):
        return None

    major, minor, patch, revision = numbers
    return NuGetVersion(
        major=major,
        minor=minor,
        patch=patch,
        revision=revision,
        release_labels=labels,
        metadata=match["metadata"] or "",
        original=text,
    )


def normalize(text: str) -> str | None:
    """``parse(text).normalized``, or ``None`` if ``text`` is not a version."""
    version = parse(text)
    return version.normalized if version is not None else None


_RANGE = re.compile(r"([\[(])\s*([^,\s]*)\s*(?:(,)\s*([^,\s]*)\s*)?([\])])")


def range_text(text: str) -> str:
    """A dependency's version range as NuGet writes it normalized: ``1.0`` →
    ``[1.0.0, )`` (at least 1.0), ``""`` → ``(, )`` (any), ``[1.0,2.0)`` →
    ``[1.0.0, 2.0.0)``, ``[1.0]`` → ``[1.0.0]``. Text that is no range comes back as is."""
    text = text.strip()
    if not text:
        return "(, )"
    plain = parse(text)
    if plain is not None:
        return f"[{plain.normalized}, )"
    match = _RANGE.fullmatch(text)
    if match is None:
        return text
    opening, low, comma, high, closing = match.groups()
    bounds = [parse(bound) if bound else None for bound in (low, high)]
    if any(bound is None and given for bound, given in zip(bounds, (low, high), strict=True)):
        return text
    low, high = (bound.normalized if bound else "" for bound in bounds)
    if not comma:
        return f"[{low}]" if low and opening == "[" and closing == "]" else text
    return f"{opening}{low}, {high}{closing}"


def normalized_sort_key(normalized: str) -> tuple:
    """``sort_key(parse(normalized))`` for a string that is already a normalized version
    (as stored), without building a ``NuGetVersion``: version lists sort thousands."""
    numbers, _dash, release = normalized.partition("-")
    parts = [int(part) for part in numbers.split(".")]
    parts += [0] * (4 - len(parts))
    labels = release.split(".") if release else ()
    return (*parts, 0 if labels else 1, tuple(_label_key(label) for label in labels))


# Every character a prerelease identifier may hold, lower-cased, in ordinal order.
_LABEL_ALPHABET = "-0123456789abcdefghijklmnopqrstuvwxyz"
# The longest sort_string() of a version parse() accepts (a test holds it to this).
SORT_STRING_MAX_LENGTH = 255


def sort_string(normalized: str) -> str:
    """``normalized_sort_key(normalized)`` as a string of digits only, which sorts the
    same under any collation of any database (digits sort alike everywhere), so a
    version list can be ordered and sliced by the database.

    Each numeric part as 10 digits (Int32); ``1`` for a release or ``0`` for a
    prerelease, then each label: a number as ``0``, its digit count in 2 digits and
    its digits (no leading zeros: the count orders numbers); a word as ``1``, each
    character as 2 digits from ``01`` and ``00`` to end it (so a word sorts before
    every longer word it starts)."""
    *numbers, release, labels = normalized_sort_key(normalized)
    text = "".join(f"{number:010d}" for number in numbers) + str(release)
    for is_word, number, word in labels:
        if is_word:
            text += "1" + "".join(f"{_LABEL_ALPHABET.index(c) + 1:02d}" for c in word) + "00"
        else:
            text += f"0{len(str(number)):02d}{number}"
    return text
