"""A request's log fields: the one dict its log line is written from.

At the bottom of the layers, and importing nothing, so that any app can add to
it and gunicorn's logger (``portal.logging``, loaded in the master process
before Django is set up) can read it.
"""

# The WSGI environ key under which a request's fields wait for the access log.
ENVIRON_KEY = "portal.log"


def fields_of(request) -> dict:
    return request.META.setdefault(ENVIRON_KEY, {})


def note_key(request, *, owner_id=None, hint: str = "") -> None:
    """The key a request presented, by its owner and hint only: never its value."""
    fields = fields_of(request)
    if hint:
        fields["key_hint"] = hint
    if owner_id is not None:
        fields.setdefault("user_id", owner_id)
