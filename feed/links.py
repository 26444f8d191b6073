"""Absolute URLs of the feed's read resources: the one module that knows their shape.

Every read resource lives under ``/v3/``: since NuGet 6.7 a client sends
credentials in advance only to URLs at or below the service index's folder.
The routes in ``feed.urls`` use the same prefixes. URLs are built by joining
strings, not ``reverse()``: a registration page holds hundreds of them.
"""

from django.conf import settings

FLAT_CONTAINER = "v3/flatcontainer/"
# Two hives, as nuget.org has: SemVer 1 clients must never see a version they
# cannot parse, so the SemVer 2 one has a base URL of its own.
REGISTRATION = "v3/registration/"
REGISTRATION_SEMVER2 = "v3/registration-semver2/"


def base_url(request) -> str:
    """The site's public root without a trailing slash: ``SITE_URL`` or the request's host."""
    return settings.SITE_URL.rstrip("/") or f"{request.scheme}://{request.get_host()}"


def read_resources(request) -> list[dict]:
    """The service index entries of the flat container, registrations, readme and
    package page."""
    base = base_url(request)
    flat = f"{base}/{FLAT_CONTAINER}"
    semver1 = f"{base}/{REGISTRATION}"
    semver2 = f"{base}/{REGISTRATION_SEMVER2}"
    return [
        {
            "@id": flat,
            "@type": "PackageBaseAddress/3.0.0",
            "comment": "Package versions, .nupkg files, manifests and readmes.",
        },
        *(
            {"@id": semver1, "@type": kind, "comment": "Package metadata, SemVer 1 versions."}
            for kind in (
                "RegistrationsBaseUrl",
                "RegistrationsBaseUrl/3.0.0-rc",
                "RegistrationsBaseUrl/3.0.0-beta",
            )
        ),
        {
            "@id": semver2,
            "@type": "RegistrationsBaseUrl/3.6.0",
            "comment": "Package metadata, SemVer 2 versions included.",
        },
        {
            "@id": f"{flat}{{lower_id}}/{{lower_version}}/readme",
            "@type": "ReadmeUriTemplate/6.13.0",
            "comment": "The readme file of a package version.",
        },
        {
            "@id": f"{base}/packages/{{id}}/{{version}}",
            "@type": "PackageDetailsUriTemplate/5.1.0",
            "comment": "The gallery page of a package version.",
        },
    ]


class Links:
    """The URLs of one package's resources, for one request and one registration hive."""

    def __init__(self, request, package_id: str, *, semver2: bool = True):
        base = base_url(request)
        self.lower_id = package_id.lower()
        self.flat = f"{base}/{FLAT_CONTAINER}{self.lower_id}/"
        hive = REGISTRATION_SEMVER2 if semver2 else REGISTRATION
        self.registration = f"{base}/{hive}{self.lower_id}/"

    def package_content(self, normalized_version: str) -> str:
        version = normalized_version.lower()
        return f"{self.flat}{version}/{self.lower_id}.{version}.nupkg"

    def readme(self, normalized_version: str) -> str:
        return f"{self.flat}{normalized_version.lower()}/readme"

    def icon(self, normalized_version: str) -> str:
        return f"{self.flat}{normalized_version.lower()}/icon"

    @property
    def registration_index(self) -> str:
        return f"{self.registration}index.json"

    def registration_page(self, lower: str, upper: str) -> str:
        return f"{self.registration}page/{lower.lower()}/{upper.lower()}.json"

    def registration_leaf(self, normalized_version: str) -> str:
        return f"{self.registration}{normalized_version.lower()}.json"
