"""What a key may do: actions, package globs, and the one decision ``Grant.allows``.

No database: callers look up whether the package exists and who owns it, and
pass the answers in, so every rule here is a plain function of its arguments.
"""

import functools
import re
from dataclasses import dataclass, field
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apikeys import conf


class Action(models.TextChoices):
    PUSH = "package:push", _("Push new packages and package versions")
    PUSH_VERSION = "package:pushversion", _("Push only new package versions")
    UNLIST = "package:unlist", _("Unlist or relist package versions")


# --- Globs -------------------------------------------------------------------

# The nuget.org glob syntax: "*" is the only wildcard; "?" and "[...]" are not
# wildcards there, so we refuse them rather than give them a meaning.
# Used with fullmatch: "$" alone would let a trailing newline through.
GLOB_CHARS = re.compile(r"[A-Za-z0-9_.*-]+")
MAX_GLOB_LENGTH = 256


def validate_glob(text: str) -> None:
    if not isinstance(text, str) or not text:
        raise ValidationError(gettext("Enter a glob pattern."), code="required")
    if len(text) > MAX_GLOB_LENGTH:
        raise ValidationError(
            gettext("A glob pattern can be at most %(max)d characters long."),
            code="max_length",
            params={"max": MAX_GLOB_LENGTH},
        )
    if not GLOB_CHARS.fullmatch(text):
        raise ValidationError(
            gettext(
                "The glob pattern “%(glob)s” may contain only letters, digits, "
                "“_”, “.”, “-” and “*”."
            ),
            code="invalid",
            params={"glob": text},
        )


# ASCII: under Unicode case folding "K" (Kelvin sign) would match "k".
_GLOB_FLAGS = re.IGNORECASE | re.ASCII | re.DOTALL


def _glob_source(glob: str) -> str:
    """The regex source for ``glob``, to be used whole (fullmatch) with _GLOB_FLAGS.

    Every character but ``*`` is literal (escaped), so even an unvalidated glob
    cannot inject regex syntax.
    """
    pieces = glob.split("*")
    if len(pieces) == 1:
        return re.escape(glob)
    first, *middles, last = pieces
    # Each middle piece is matched at its leftmost place and never revisited
    # (an atomic group). That is exact for "*"-only globs, and it keeps a
    # hostile glob such as "*a*a*a…*b" fast: plain ".*" pieces backtrack
    # exponentially (12 of them against 40 characters already hang).
    return (
        re.escape(first)
        + "".join(f"(?>.*?{re.escape(piece)})" for piece in middles if piece)
        + ".*"
        + re.escape(last)
    )


@functools.lru_cache(maxsize=1024)
def globs_to_regex(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive whole-ID regex that matches where any of ``globs``
    does; None for none.

    Use it with ``fullmatch``, which tries each alternative until one spans the ID.
    Cached: a page that builds the grants of many keys compiles each set once.
    """
    if not globs:
        return None
    return re.compile("|".join(f"(?:{_glob_source(glob)})" for glob in globs), _GLOB_FLAGS)


def glob_matches(glob: str, package_id: str) -> bool:
    return globs_to_regex((glob,)).fullmatch(package_id) is not None


def _first_of_each(globs) -> list[str]:
    """``globs`` without case-insensitive repeats, keeping the first spelling and the order."""
    unique: dict[str, str] = {}
    for glob in globs:
        unique.setdefault(glob.lower(), glob)
    return list(unique.values())


def parse_globs(text: str) -> list[str]:
    """The globs in ``text``, one per line; raise ValidationError listing every problem."""
    globs: list[str] = []
    errors: list[ValidationError] = []
    for glob in _first_of_each(line.strip() for line in (text or "").splitlines()):
        if not glob:
            continue
        try:
            validate_glob(glob)
        except ValidationError as error:
            errors.extend(error.error_list)
        else:
            globs.append(glob)

    limit = conf.max_globs()
    if len(globs) > limit:
        errors.append(
            ValidationError(
                ngettext(
                    "Enter at most %(max)d glob pattern.",
                    "Enter at most %(max)d glob patterns.",
                    limit,
                ),
                code="max_globs",
                params={"max": limit},
            )
        )
    if errors:
        raise ValidationError(errors)
    return globs


# --- Decisions ---------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """Permission; true, like any object without ``__bool__`` or ``__len__``."""


ALLOWED = Allowed()


@dataclass(frozen=True)
class Denied:
    """A refusal and why. The reason is for the audit log, not the HTTP answer."""

    SCOPE: ClassVar[str] = "scope"  # the key's actions do not permit this
    PACKAGE: ClassVar[str] = "package"  # the ID matches no picked package and no glob
    OWNER: ClassVar[str] = "owner"  # the key's owner does not own the package

    code: str
    reason: str

    def __bool__(self) -> bool:
        return False


# Which scopes permit a request: a new ID needs package:push; a new version of an
# existing ID is also fine with package:pushversion (nuget.org semantics).
_PUSH_NEW_SCOPES = frozenset({Action.PUSH.value})
_PUSH_VERSION_SCOPES = frozenset({Action.PUSH.value, Action.PUSH_VERSION.value})
_UNLIST_SCOPES = frozenset({Action.UNLIST.value})
# The actions as plain strings: comparing with them spares an enum attribute
# look-up per comparison on a path every push takes.
_PUSH = Action.PUSH.value
_UNLIST = Action.UNLIST.value


@dataclass(frozen=True)
class Grant:
    """What one key may do: its actions and its subjects (picked IDs and globs)."""

    actions: frozenset[str]
    package_ids: frozenset[str]  # lower-cased: IDs compare case-insensitively
    globs: tuple[str, ...]
    # All the globs as one regex, compiled when the grant is made: covers() then
    # runs one match however many globs there are, with no per-glob calls.
    _globs_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_globs_regex", globs_to_regex(tuple(self.globs)))

    @classmethod
    def of(cls, actions=(), package_ids=(), globs=()) -> "Grant":
        return cls(
            actions=frozenset(str(action) for action in actions),
            package_ids=frozenset(package_id.lower() for package_id in package_ids),
            globs=tuple(_first_of_each(globs)),
        )

    def covers(self, package_id: str) -> bool:
        # Package IDs are ASCII; Unicode case folding would let "\u212a" (Kelvin) be "k".
        if not package_id.isascii():
            return False
        if package_id.lower() in self.package_ids:
            return True
        return self._globs_regex is not None and self._globs_regex.fullmatch(package_id) is not None

    def allows(
        self,
        action: str,
        package_id: str,
        *,
        package_exists: bool,
        owner_owns_package: bool = False,
    ) -> Allowed | Denied:
        """May this key do ``action`` to ``package_id``? Checks scope, then ID, then owner.

        ``action`` is what the request does: ``Action.PUSH`` for any push (new ID or
        new version, told apart by ``package_exists``) or ``Action.UNLIST`` for an
        unlist or a relist. Anything else, ``Action.PUSH_VERSION`` included (a
        scope, not a request), is refused with code "scope".

        - Push of a new ID: needs package:push. Ownership is not checked: nobody
          owns the ID yet (whether the owner may claim it is the registry's call).
        - Push of an existing ID: needs package:push or package:pushversion, and
          the key's owner must own the package.
        - Unlist/relist: needs package:unlist, and the key's owner must own the
          package. A package that does not exist is owned by nobody, so it is
          refused with code "owner", never allowed. The feed should answer 404
          for a missing package before asking; if it forgets, it fails closed.

        Scope and ID are checked the same way whether or not the package exists,
        so those two refusals never depend on it.
        """
        if action == _PUSH:
            needed = _PUSH_VERSION_SCOPES if package_exists else _PUSH_NEW_SCOPES
        elif action == _UNLIST:
            needed = _UNLIST_SCOPES
        else:
            return Denied(
                Denied.SCOPE,
                gettext("“%(action)s” on “%(package_id)s” is not an action API keys grant.")
                % {"action": str(action), "package_id": package_id},
            )
        names = {"package_id": package_id}

        if self.actions.isdisjoint(needed):
            if action == _UNLIST:
                reason = gettext(
                    "Unlisting or relisting “%(package_id)s” needs the package:unlist scope, "
                    "which this API key does not have."
                )
            elif package_exists:
                reason = gettext(
                    "Pushing a new version of “%(package_id)s” needs the package:push or "
                    "package:pushversion scope, which this API key does not have."
                )
            else:
                reason = gettext(
                    "Pushing the new package “%(package_id)s” needs the package:push scope, "
                    "which this API key does not have."
                )
            return Denied(Denied.SCOPE, reason % names)

        if not self.covers(package_id):
            if action == _UNLIST:
                reason = gettext(
                    "This API key may not unlist or relist “%(package_id)s”: the ID matches "
                    "none of its packages or glob patterns."
                )
            else:
                reason = gettext(
                    "This API key may not push “%(package_id)s”: the ID matches none of its "
                    "packages or glob patterns."
                )
            return Denied(Denied.PACKAGE, reason % names)

        if action == _PUSH and not package_exists:
            return ALLOWED
        if not package_exists:
            reason = gettext(
                "There is no package “%(package_id)s” to unlist or relist, so this API "
                "key's owner does not own it."
            )
            return Denied(Denied.OWNER, reason % names)
        if not owner_owns_package:
            if action == _UNLIST:
                reason = gettext(
                    "This API key's owner does not own “%(package_id)s”, so it may not "
                    "unlist or relist it."
                )
            else:
                reason = gettext(
                    "This API key's owner does not own “%(package_id)s”, so it may not "
                    "push new versions of it."
                )
            return Denied(Denied.OWNER, reason % names)
        return ALLOWED
