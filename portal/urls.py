from allauth.account import urls as account_urls
from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from portal import health, languages, metrics, security, views

# allauth's own sign-in, sign-up and sign-out routes give way to nuget.org's
# paths under the same names, so every link allauth builds points at ours.
_REPLACED = {"account_login", "account_signup", "account_logout"}
_allauth_account_urls = [p for p in account_urls.urlpatterns if p.name not in _REPLACED]

# The admin signs in through the site's own sign-in page, so staff get the same
# rate limits and two-factor check as everyone else.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    # Load balancers and Prometheus (README: "Health checks and metrics").
    path("health/live", health.live, name="health_live"),
    path("health/ready", health.ready, name="health_ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The feed next: NuGet clients make most of the requests, and URLs are tried
    # in order. Its paths (v3/..., api/v2/...) overlap no page's.
    path("", include("feed.urls")),
    path("", views.home, name="home"),
    path("users/account/LogOn", views.log_on, name="account_login"),
    path("users/account/Register", views.register, name="account_signup"),
    path("users/account/LogOff", views.log_off, name="account_logout"),
    path("users/account/", include(_allauth_account_urls)),
    path("users/account/2fa/", include("allauth.mfa.urls")),
    re_path(r"^account/?$", views.account_settings, name="account_settings"),
    path("account/security", security.security_history, name="account_security"),
    path("", include("accounts.urls")),
    path(
        "organization/<str:name>/security",
        security.organization_security_history,
        name="organization_security",
    ),
    path("", include("apikeys.urls")),
    path("", include("trustedpublishing.urls")),
    path("", include("packages.urls")),
    # Ours first, under Django's name and path: it also stores a signed-in user's choice.
    path("i18n/setlang/", languages.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

handler500 = "portal.views.server_error"
