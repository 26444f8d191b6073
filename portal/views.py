"""The site shell: home, account settings, pages still to come, and error pages."""

import functools
import logging
import sys

from allauth.account import views as account_views
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.models import EmailAddress
from allauth.account.utils import complete_signup, has_verified_email, perform_login
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.contrib.auth.hashers import make_password
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

from portal.adapters import SIGNUP_TARGET_SESSION_KEY
from portal.forms import SignupForm

logger = logging.getLogger(__name__)

# nuget.org names the post-sign-in target "returnUrl"; allauth names it "next".
RETURN_URL_PARAM = "returnUrl"


def _accept_return_url(view):
    """Let ``view`` honour nuget.org's ``returnUrl`` as if it were ``next``.

    Only the name changes: allauth still validates the target, so a URL to
    another host is dropped and the user lands on the default page.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if RETURN_URL_PARAM in request.GET and REDIRECT_FIELD_NAME not in request.GET:
            request.GET = _with_next(request.GET)
        if RETURN_URL_PARAM in request.POST and REDIRECT_FIELD_NAME not in request.POST:
            request.POST = _with_next(request.POST)
        return view(request, *args, **kwargs)

    return wrapper


def _with_next(params):
    params = params.copy()
    params[REDIRECT_FIELD_NAME] = params[RETURN_URL_PARAM]
    return params


class RegisterView(account_views.SignupView):
    """allauth's sign-up, answering the same whether or not the address has an account.

    Either way the visitor is sent to the "confirmation sent" page and nobody
    is signed in: a new address gets its confirmation link, a taken one gets
    allauth's "someone tried to sign up with your address" email. Sign-in keeps
    optional verification, so unconfirmed users can still sign in later.
    """

    form_class = SignupForm

    def form_valid(self, form):
        mandatory = EmailVerificationMethod.MANDATORY
        redirect_url = self.get_success_url()
        # Both answers remember it alike; the sign-in after confirming uses it.
        self.request.session[SIGNUP_TARGET_SESSION_KEY] = redirect_url
        try:
            if form.account_already_exists:
                # The Argon2 hash a new account costs, so the time taken tells nothing.
                make_password(form.cleaned_data.get("password1"))
                # allauth's enumeration prevention: a sign-in with no user,
                # which mails the owner and shows the "confirmation sent" page.
                return perform_login(
                    self.request,
                    None,
                    email_verification=mandatory,
                    redirect_url=redirect_url,
                    signup=True,
                    email=form.cleaned_data["email"],
                )
            user = form.save(self.request)
            return complete_signup(self.request, user, mandatory, redirect_url)
        except ImmediateHttpResponse as e:
            return e.response


log_on = _accept_return_url(account_views.login)
register = _accept_return_url(RegisterView.as_view())
log_off = account_views.logout


@require_safe
def home(request):
    return render(
        request,
        "portal/home.html",
        {"service_index_url": request.build_absolute_uri("/v3/index.json")},
    )


@require_safe
@login_required
def account_settings(request):
    user = request.user
    return render(
        request,
        "portal/account_settings.html",
        {
            "email_addresses": EmailAddress.objects.filter(user=user).order_by("-primary", "email"),
            "mfa_types": set(
                Authenticator.objects.filter(user=user).values_list("type", flat=True)
            ),
            "has_confirmed_email": has_verified_email(user),
        },
    )


DATABASE_RETRY_AFTER_SECONDS = 5


def server_error(request):
    """The 500 page, or a 503 when the database cannot be reached.

    Django calls this handler while it handles the exception, so sys.exc_info()
    names it, whichever layer raised it: a view, a middleware or a template.
    Rendered without the request's context processors: they may be what failed.
    """
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # The database is away (restarting, failing over, overloaded): tell
        # clients to come back rather than that something is broken.
        response = _error_page("503.html", 503, _("The database is not reachable. Try again soon."))
        response.reason_phrase = "Service Unavailable: the database is not reachable"
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return _error_page("500.html", 500, _("Something went wrong."))


def _error_page(template: str, status: int, plain: str) -> HttpResponse:
    try:
        body = render_to_string(template, {"SITE_NAME": settings.SITE_NAME})
        content_type = "text/html; charset=utf-8"
    except Exception:
        # The error page must not fail too (say, static files not collected):
        # the status and its headers matter more than the page.
        logger.exception("Rendering %s failed", template)
        body, content_type = plain + "\n", "text/plain; charset=utf-8"
    return HttpResponse(body, status=status, content_type=content_type)


@requires_csrf_token
def csrf_failure(request, reason=""):
    # The reason names Django internals; users get a plain explanation instead.
    return render(request, "403_csrf.html", status=403)
