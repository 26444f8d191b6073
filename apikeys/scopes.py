"""What a key may do: actions, package globs, and the one decision ``Grant.allows``.

No database: callers look up whether the package exists and who owns it, and
pass the answers in, so every rule here is a plain function of its arguments.
"""

import fnmatch
import functools
import re
from dataclasses import dataclass
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apikeys import conf
from packages import ids


class Action(models.TextChoices):
    PUSH = "package:push", _("Push new packages and package versions")
    PUSH_VERSION = "package:pushversion", _("Push only new package versions")
    UNLIST = "package:unlist", _("Unlist or relist package versions")
    # Reading a private feed (FEED_READ_ACCESS=authenticated): restore and search.
    READ = "package:read", _("Download packages")


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
_GLOB_FLAGS = re.IGNORECASE | re.ASCII


def _literal_brackets(glob: str) -> str:
    # fnmatch reads "?" and "[...]" as wildcards; ours are literal. Valid globs
    # never hold them, but matching must not depend on validation having run:
    # "[?]" and "[[]" are fnmatch's own spelling of a literal "?" and "[".
    return re.sub(r"[?[]", r"[\g<0>]", glob)


@functools.lru_cache(maxsize=1024)
def globs_to_regex(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex that matches a whole ID where any of ``globs``
    does; None for none. Use it with ``fullmatch``.

    ``fnmatch.translate`` makes each glob's regex: "*" becomes ".*", and since
    Python 3.11 every "*" but the last is an atomic group, so that a hostile glob
    such as "*a*a*a…*b" fails in linear time instead of backtracking for ever.
    Cached: a page that builds the grants of many keys compiles each set once.
    """
    if not globs:
        return None
    sources = (fnmatch.translate(_literal_brackets(glob)) for glob in globs)
    return re.compile("|".join(f"(?:{source})" for source in sources), _GLOB_FLAGS)


def glob_matches(glob: str, package_id: str) -> bool:
    return globs_to_regex((glob,)).fullmatch(package_id) is not None


def _first_of_each(globs) -> list[str]:
    """``globs`` without case-insensitive repeats, keeping the first spelling and the order."""
    unique: dict[str, str] = {}
    for glob in globs:
        unique.setdefault(glob.lower(), glob)
    return list(unique.values())


def parse_globs(text: str) -> list[str]:
    """The globs in ``text``, one per line, without case-insensitive repeats; raise
    ValidationError listing every invalid one.

    How many globs a key may hold is checked in one place, ``grant_errors``, which
    every service runs: the forms show its message next to the field.
    """
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
    if errors:
        raise ValidationError(errors)
    return globs


# --- Validation --------------------------------------------------------------


def grant_errors(actions, package_ids, globs) -> dict[str, list[str] | str]:
    """What is wrong with a grant (actions, picked IDs, globs), keyed by field; empty
    when nothing is. The one check behind ``ApiKey.clean`` and ``Policy.clean``, the
    glob limit included."""
    errors: dict[str, list[str] | str] = {}
    chosen = set(actions or ())
    if not chosen:
        errors["actions"] = gettext("At least one scope must be selected.")
    elif not chosen <= set(Action.values):
        errors["actions"] = gettext("Choose scopes from the list.")
    elif {Action.PUSH, Action.PUSH_VERSION} <= chosen:
        errors["actions"] = gettext(
            "Choose either pushing new packages and versions, or only new versions."
        )
    glob_errors = []
    for glob in globs or ():
        try:
            validate_glob(glob)
        except ValidationError as error:
            glob_errors.extend(error.messages)
    if len(globs or ()) > conf.max_globs():
        glob_errors.append(
            gettext("Enter at most %(max)d glob patterns.") % {"max": conf.max_globs()}
        )
    if glob_errors:
        errors["globs"] = glob_errors
    bad_ids = [p for p in package_ids or () if not ids.is_valid(p)]
    if bad_ids:
        errors["package_ids"] = gettext("Not package IDs: %(ids)s") % {"ids": ", ".join(bad_ids)}
    elif not globs and not package_ids:
        errors["package_ids"] = gettext("Enter a glob pattern or select at least one package.")
    return errors


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
# Reading is a scope of its own: a push key does not read unless it also has it.
_READ_SCOPES = frozenset({Action.READ.value})


@dataclass(frozen=True)
class Grant:
    """What one key may do: its actions and its subjects (picked IDs and globs)."""

    actions: frozenset[str]
    package_ids: frozenset[str]  # lower-cased: IDs compare case-insensitively
    globs: tuple[str, ...]

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
        regex = globs_to_regex(tuple(self.globs))
        return regex is not None and regex.fullmatch(package_id) is not None

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

        - Read (``Action.READ``): see ``allows_read``; ``package_exists`` and
          ``owner_owns_package`` play no part.

        Scope and ID are checked the same way whether or not the package exists,
        so those two refusals never depend on it.
        """
        if action == Action.READ:
            return self.allows_read(package_id)
        if action == Action.PUSH:
            needed = _PUSH_VERSION_SCOPES if package_exists else _PUSH_NEW_SCOPES
        elif action == Action.UNLIST:
            needed = _UNLIST_SCOPES
        else:
            return Denied(
                Denied.SCOPE,
                gettext("“%(action)s” on “%(package_id)s” is not an action API keys grant.")
                % {"action": str(action), "package_id": package_id},
            )
        names = {"package_id": package_id}

        if self.actions.isdisjoint(needed):
            if action == Action.UNLIST:
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
            if action == Action.UNLIST:
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

        if action == Action.PUSH and not package_exists:
            return ALLOWED
        if not package_exists:
            reason = gettext(
                "There is no package “%(package_id)s” to unlist or relist, so this API "
                "key's owner does not own it."
            )
            return Denied(Denied.OWNER, reason % names)
        if not owner_owns_package:
            if action == Action.UNLIST:
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

    def allows_read(self, package_id: str | None = None) -> Allowed | Denied:
        """May this key read ``package_id`` from a private feed (or the feed itself,
        the service index and search, when ``None``)?

        Needs package:read, and the ID must match one of the key's picked packages
        or globs. Ownership is not checked: a private feed is shared by the people
        who hold its read keys, so a key reads every package its globs cover,
        whoever owns it. Whether the package exists plays no part either, so a
        refusal says nothing about which IDs exist.
        """
        if self.actions.isdisjoint(_READ_SCOPES):
            if package_id is None:
                reason = gettext(
                    "Reading this feed needs the package:read scope, which this API key "
                    "does not have."
                )
            else:
                reason = gettext(
                    "Reading “%(package_id)s” needs the package:read scope, which this API "
                    "key does not have."
                ) % {"package_id": package_id}
            return Denied(Denied.SCOPE, reason)
        if package_id is not None and not self.covers(package_id):
            reason = gettext(
                "This API key may not read “%(package_id)s”: the ID matches none of its "
                "packages or glob patterns."
            )
            return Denied(Denied.PACKAGE, reason % {"package_id": package_id})
        return ALLOWED
