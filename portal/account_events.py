"""Account events: sign-in, failed sign-in, sign-out, password, email and two-factor.

House style writes every security event from the service that makes the change,
in that change's transaction. These flows are not ours: allauth owns sign-in,
sign-up, passwords, email addresses and two-factor, and Django's
``authenticate()`` owns the password check. Their signals are the only place we
hear about them, so here, and only here, events are written by signal receivers.

What that costs: allauth sends most of these signals in the request right after
saving the change, but the two-factor ones (``authenticator_added``, ``_reset``)
from ``transaction.on_commit``. A crash between that commit and the receiver
would lose the event, though not the change. Sign-in attempts refused by the
rate limit never reach ``authenticate()`` and so are not recorded one by one.

``connect()`` is called once, from ``PortalConfig.ready()``.
"""

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals

from audit.events import record
from audit.models import EventKind

# Room for the longest email address, and no more: the field is free text from
# strangers. The attempted login is kept, when it names an account, so the owner
# can tell a typo from someone trying names.
ATTEMPTED_LOGIN_MAX = 254

# Recovery codes only back up a second factor; adding or regenerating them is
# its own kind of event, not "two-factor turned on".
_RECOVERY_CODES = Authenticator.Type.RECOVERY_CODES


def _actor(request, user):
    """Whoever made the request: usually the user, an administrator from the admin.

    Signed out (a password reset link, an email confirmation link), it is the user
    the flow acted for.
    """
    request_user = getattr(request, "user", None)
    if request_user is not None and request_user.is_authenticated:
        return request_user
    return user


def _record_for(kind, user, request, **details):
    record(
        kind,
        actor=_actor(request, user),
        subject_user=user,
        request=request,
        details={key: value for key, value in details.items() if value is not None},
    )


# --- Signing in and out -------------------------------------------------------


def on_user_logged_in(sender, request, user, **kwargs):
    # allauth's signal, not Django's: it fires once the whole sign-in (password
    # and second factor) is done, and not for test clients' force_login().
    _record_for(EventKind.USER_SIGNED_IN, user, request)


def on_user_logged_out(sender, request, user, **kwargs):
    if user is None or not user.is_authenticated:
        return
    _record_for(EventKind.USER_SIGNED_OUT, user, request)


def attempted_login(credentials: dict) -> str:
    """The login name from ``user_login_failed``'s credentials, never anything else.

    Django masks the password in those credentials already; this reads only the
    fields allauth fills with what the user typed as their login.
    """
    for field in ("email", "username", "phone"):
        value = credentials.get(field)
        if isinstance(value, str) and value:
            return value.strip()[:ATTEMPTED_LOGIN_MAX]
    return ""


def account_for_login(login: str):
    """The one account ``login`` names, as an email address or a username, or ``None``.

    Case-insensitive, as allauth matches them at sign-in: addresses are unique
    (``ACCOUNT_UNIQUE_EMAIL``) and usernames unique whatever their case.
    """
    if not login:
        return None
    users = get_user_model()._default_manager
    matches = []
    if "@" in login:
        matches = list(users.filter(emailaddress__email__iexact=login).distinct()[:2])
    if not matches:
        matches = list(users.filter(**{f"{users.model.USERNAME_FIELD}__iexact": login})[:2])
    return matches[0] if len(matches) == 1 else None


def on_user_login_failed(sender, credentials, request=None, **kwargs):
    login = attempted_login(credentials)
    reauthenticating = bool(
        request is not None and getattr(request, "user", None) and request.user.is_authenticated
    )
    # An unknown account's failures name no user: only administrators see them.
    user = request.user if reauthenticating else account_for_login(login)
    # People sometimes type their password into the login field: a login that
    # names no account is not kept, only that one was tried.
    details = {"login": login} if user is not None else {"login_unknown": True}
    if reauthenticating:
        details["reauthentication"] = True
    record(
        EventKind.USER_SIGN_IN_FAILED,
        actor=None,
        subject_user=user,
        request=request,
        details=details,
    )


def on_mfa_authentication_failed(sender, request, user, authenticator=None, **kwargs):
    # The right password and a wrong code: worth seeing in one's own history.
    record(
        EventKind.USER_SIGN_IN_FAILED,
        actor=None,
        subject_user=user,
        request=request,
        details={
            "step": "two_factor",
            "authenticator": getattr(authenticator, "type", None) or "",
            **({"reauthentication": True} if kwargs.get("reauthentication") else {}),
        },
    )


def on_user_signed_up(sender, request, user, **kwargs):
    _record_for(EventKind.USER_SIGNED_UP, user, request)


# --- Passwords ---------------------------------------------------------------


def on_password_changed(sender, request, user, **kwargs):
    _record_for(EventKind.USER_PASSWORD_CHANGED, user, request)


def on_password_set(sender, request, user, **kwargs):
    # A first password for an account that had none.
    _record_for(EventKind.USER_PASSWORD_CHANGED, user, request, first=True)


def on_password_reset(sender, request, user, **kwargs):
    _record_for(EventKind.USER_PASSWORD_RESET, user, request)


# --- Email addresses ---------------------------------------------------------


def on_email_added(sender, request, user, email_address, **kwargs):
    _record_for(EventKind.USER_EMAIL_ADDED, user, request, email=email_address.email)


def on_email_confirmed(sender, request, email_address, **kwargs):
    _record_for(
        EventKind.USER_EMAIL_CONFIRMED, email_address.user, request, email=email_address.email
    )


def on_email_removed(sender, request, user, email_address, **kwargs):
    _record_for(EventKind.USER_EMAIL_REMOVED, user, request, email=email_address.email)


def on_email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    _record_for(
        EventKind.USER_EMAIL_PRIMARY,
        user,
        request,
        email=to_email_address.email,
        previous_email=from_email_address.email if from_email_address is not None else None,
    )


# --- Two-factor authentication -------------------------------------------------


def on_authenticator_added(sender, request, user, authenticator, **kwargs):
    kind = (
        EventKind.USER_RECOVERY_CODES
        if authenticator.type == _RECOVERY_CODES
        else EventKind.USER_MFA_ACTIVATED
    )
    _record_for(kind, user, request, authenticator=authenticator.type)


def on_authenticator_removed(sender, request, user, authenticator, **kwargs):
    # Removing the last authenticator app also removes the recovery codes; each
    # removal is its own event, told apart by ``authenticator``.
    _record_for(EventKind.USER_MFA_DEACTIVATED, user, request, authenticator=authenticator.type)


def on_authenticator_reset(sender, request, user, authenticator, **kwargs):
    _record_for(
        EventKind.USER_RECOVERY_CODES, user, request, authenticator=authenticator.type, reset=True
    )


RECEIVERS = [
    (account_signals.user_logged_in, on_user_logged_in),
    # allauth re-exports Django's user_logged_out; Django's logout() sends it.
    (account_signals.user_logged_out, on_user_logged_out),
    # allauth checks passwords through django.contrib.auth.authenticate().
    (auth_signals.user_login_failed, on_user_login_failed),
    (mfa_signals.authentication_failed, on_mfa_authentication_failed),
    (account_signals.user_signed_up, on_user_signed_up),
    (account_signals.password_changed, on_password_changed),
    (account_signals.password_set, on_password_set),
    (account_signals.password_reset, on_password_reset),
    (account_signals.email_added, on_email_added),
    (account_signals.email_confirmed, on_email_confirmed),
    (account_signals.email_removed, on_email_removed),
    (account_signals.email_changed, on_email_changed),
    (mfa_signals.authenticator_added, on_authenticator_added),
    (mfa_signals.authenticator_removed, on_authenticator_removed),
    (mfa_signals.authenticator_reset, on_authenticator_reset),
]


def connect() -> None:
    for signal, receiver in RECEIVERS:
        # Strong references and a fixed uid: connected exactly once, however
        # often ready() runs.
        signal.connect(
            receiver, weak=False, dispatch_uid=f"portal.account_events.{receiver.__name__}"
        )
