"""The publish protocol through Django's test client: every status and every reason."""

import base64
import hashlib
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import keys
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import Event, EventKind
from packages.models import Package, PackageVersion
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db
FORBIDDEN = (
    "The specified API key is invalid, has expired, "
    "or does not have permission to access the specified package."
)


def files_in(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


class TestServiceIndex:
    def test_lists_package_publish_with_an_absolute_url(self, client):
        response = client.get("/v3/index.json")
        assert response.status_code == 200
        body = response.json()
        assert body["version"] == "3.0.0"
        publish = [r for r in body["resources"] if r["@type"] == "PackagePublish/2.0.0"]
        assert publish[0]["@id"] == "http://testserver/api/v2/package"

    def test_site_url_wins_behind_a_proxy(self, client, settings):
        settings.SITE_URL = "https://nuget.example.com"
        body = client.get("/v3/index.json").json()
        assert body["resources"][0]["@id"] == "https://nuget.example.com/api/v2/package"

    def test_head_has_headers_and_no_body(self, client):
        response = client.head("/v3/index.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content == b""


class TestPush:
    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    def test_push_creates_the_package_owned_by_the_keys_owner(
        self, push, owner, make_key, package_files, chunked
    ):
        key, value = make_key(owner)
        nupkg = make_nupkg("Contoso.Core", "1.0.0", metadata_extra="<tags>web json</tags>")
        response = push(nupkg, value, chunked=chunked, unquoted=chunked)
        assert response.status_code == 201, response.reason_phrase
        package = Package.objects.get()
        assert package.name == "Contoso.Core"
        assert list(package.owners.all()) == [owner]
        version = PackageVersion.objects.get()
        assert version.normalized_version == "1.0.0"
        assert version.listed and version.size == len(nupkg)
        assert version.sha512 == base64.b64encode(hashlib.sha512(nupkg).digest()).decode()
        assert version.tags == ["web", "json"]
        assert (version.pushed_by, version.api_key_id) == (owner, key.pk)
        assert files_in(package_files) == ["contoso.core/1.0.0/contoso.core.1.0.0.nupkg"]
        assert (package_files / version.file_name).read_bytes() == nupkg
        event = Event.objects.get(kind="package:pushed")
        assert (event.package_id, event.package_version, event.api_key_id) == (
            "Contoso.Core",
            "1.0.0",
            key.pk,
        )
        key.refresh_from_db()
        assert key.last_used_at is not None

    def test_no_key_is_401_with_www_authenticate(self, push):
        response = push(make_nupkg(), None)
        assert response.status_code == 401
        assert "X-NuGet-ApiKey" in response.reason_phrase
        assert response["WWW-Authenticate"].startswith("ApiKey ")

    @pytest.mark.parametrize("value", ["garbage", "ngk_" + "A" * 38])
    def test_an_invalid_key_is_403_and_audited(self, push, value):
        response = push(make_nupkg(), value)
        assert response.status_code == 403
        assert response.reason_phrase == FORBIDDEN
        event = Event.objects.get(kind="api_key:auth_failed")
        assert event.details["failure"] in ("malformed", "unknown")
        assert value not in str(event.details)

    def test_an_expired_key_is_403(self, push, owner, make_key):
        key, value = make_key(owner)
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        assert push(make_nupkg(), value).status_code == 403
        assert Event.objects.get(kind="api_key:auth_failed").details["failure"] == "expired"
        assert not PackageVersion.objects.exists()

    def test_a_revoked_key_is_403(self, push, owner, make_key):
        key, value = make_key(owner)
        api_key_revoke(api_key=key, actor=owner)
        assert push(make_nupkg(), value).status_code == 403

    def test_an_id_outside_the_keys_globs_is_403_with_the_reason_in_the_audit_log(
        self, push, owner, make_key, package_files
    ):
        _, value = make_key(owner, globs=["Contoso.*"])
        response = push(make_nupkg("Fabrikam.Web"), value)
        assert response.status_code == 403
        assert response.reason_phrase == FORBIDDEN
        event = Event.objects.get(kind="package:refused")
        assert event.details["code"] == "package"
        assert "Fabrikam.Web" in event.details["reason"]
        assert not Package.objects.exists()
        assert files_in(package_files) == []

    def test_a_pushversion_key_cannot_create_a_new_id(self, push, owner, make_key):
        _, value = make_key(owner, actions=["package:pushversion"])
        assert push(make_nupkg("Contoso.Core"), value).status_code == 403
        assert Event.objects.get(kind="package:refused").details["code"] == "scope"

    def test_a_pushversion_key_adds_versions_to_owned_packages(self, push, owner, make_key):
        _, push_key = make_key(owner)
        assert push(make_nupkg("Contoso.Core", "1.0.0"), push_key).status_code == 201
        _, version_key = make_key(owner, actions=["package:pushversion"])
        assert push(make_nupkg("Contoso.Core", "1.1.0"), version_key).status_code == 201

    def test_an_unlist_only_key_cannot_push(self, push, owner, make_key):
        _, value = make_key(owner, actions=["package:unlist"])
        assert push(make_nupkg(), value).status_code == 403

    def test_someone_elses_package_is_403(self, push, owner, make_user, make_key):
        _, alice_key = make_key(owner)
        assert push(make_nupkg("Contoso.Core", "1.0.0"), alice_key).status_code == 201
        _, bob_key = make_key(make_user("bob"))
        assert push(make_nupkg("contoso.core", "2.0.0"), bob_key).status_code == 403
        assert Event.objects.filter(kind="package:refused").get().details["code"] == "owner"
        assert PackageVersion.objects.count() == 1

    @pytest.mark.parametrize("again", ["1.0.0", "1.0", "1.0.0.0", "1.00.0+build.7"])
    def test_the_same_version_again_is_409(self, push, owner, make_key, package_files, again):
        _, value = make_key(owner)
        assert push(make_nupkg("Contoso.Core", "1.0"), value).status_code == 201
        response = push(make_nupkg("contoso.core", again), value)
        assert response.status_code == 409
        assert "already exists" in response.reason_phrase
        assert PackageVersion.objects.count() == 1
        assert len(files_in(package_files)) == 1

    def test_prerelease_labels_compare_without_case(self, push, owner, make_key):
        _, value = make_key(owner)
        assert push(make_nupkg("Contoso.Core", "1.0.0-Beta"), value).status_code == 201
        assert push(make_nupkg("Contoso.Core", "1.0.0-beta"), value).status_code == 409

    @pytest.mark.parametrize(
        ("nupkg", "phrase"),
        [
            (b"not a zip at all", "Invalid package"),
            (make_nupkg("bad id!"), "Invalid package"),
            (make_nupkg(version="1.0.0.0.0"), "Invalid package"),
            (make_nupkg(description=""), "description"),
            (make_nupkg(extra_files={"../evil.txt": b"x"}), "Invalid package"),
        ],
        ids=["not-zip", "bad-id", "bad-version", "no-description", "path-traversal"],
    )
    def test_an_invalid_package_is_400_with_the_reason_and_leaves_nothing(
        self, push, owner, make_key, package_files, nupkg, phrase
    ):
        _, value = make_key(owner)
        response = push(nupkg, value)
        assert response.status_code == 400
        assert phrase in response.reason_phrase
        assert response.reason_phrase.isascii() and "\n" not in response.reason_phrase
        assert not PackageVersion.objects.exists()
        assert not Package.objects.exists()
        assert files_in(package_files) == []
        assert Event.objects.get(kind="package:refused").details["code"] != ""

    def test_a_body_that_is_not_multipart_is_400(self, client, owner, make_key):
        _, value = make_key(owner)
        response = client.put(
            "/api/v2/package/", make_nupkg(), "application/octet-stream",
            headers={"X-NuGet-ApiKey": value},
        )  # fmt: skip
        assert response.status_code == 400

    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    def test_a_package_over_the_size_limit_is_413(
        self, push, owner, make_key, settings, package_files, chunked
    ):
        settings.PACKAGES_MAX_SIZE = 200_000
        _, value = make_key(owner)
        noise = random.Random(7).randbytes(400_000)  # incompressible
        big = make_nupkg(extra_files={"lib/big.bin": noise})
        assert len(big) > 400_000
        response = push(big, value, chunked=chunked)
        assert response.status_code == 413
        assert not PackageVersion.objects.exists()
        assert files_in(package_files) == []

    def test_a_key_that_expires_soon_gets_a_warning(self, push, owner, make_key):
        key, value = make_key(owner)
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + timedelta(days=3))
        response = push(make_nupkg(), value)
        assert response.status_code == 201
        assert "expires in 3 day" in response["X-NuGet-Warning"]
        assert key.hint.replace("…", "...") in response["X-NuGet-Warning"]

    def test_a_key_far_from_expiry_gets_no_warning(self, push, owner, make_key):
        _, value = make_key(owner)
        assert "X-NuGet-Warning" not in push(make_nupkg(), value)

    def test_a_failed_write_leaves_no_row_and_no_file(
        self, push, owner, make_key, package_files, monkeypatch
    ):
        from audit import events

        _, value = make_key(owner)

        def broken(*args, **kwargs):
            raise RuntimeError("the audit write failed")

        monkeypatch.setattr("packages.services.record", broken)
        with pytest.raises(RuntimeError):
            push(make_nupkg(), value)
        assert not PackageVersion.objects.exists()
        assert not Package.objects.exists()
        assert files_in(package_files) == []
        assert events.record is not broken

    def test_a_leftover_file_with_no_row_is_replaced_by_the_next_push(
        self, push, owner, make_key, package_files
    ):
        # What a worker killed after writing, before its commit, leaves behind.
        canonical = "contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        (package_files / canonical).parent.mkdir(parents=True)
        (package_files / canonical).write_bytes(b"PK\x03\x04 truncated")
        _, value = make_key(owner)
        nupkg = make_nupkg("Contoso.Core", "1.0.0")
        assert push(nupkg, value).status_code == 201
        version = PackageVersion.objects.get()
        assert version.file_name == canonical
        assert files_in(package_files) == [canonical]
        assert (package_files / canonical).read_bytes() == nupkg

    def test_a_write_that_fails_midway_leaves_no_row_and_no_file(
        self, push, owner, make_key, package_files, settings
    ):
        settings.STORAGES = {
            **settings.STORAGES,
            "packages": {
                "BACKEND": "tests.feed.failing_storage.HalfWriteStorage",
                "OPTIONS": {"location": str(package_files)},
            },
        }
        _, value = make_key(owner)
        with pytest.raises(OSError, match="No space left"):
            push(make_nupkg("Contoso.Core", "1.0.0"), value)
        assert not PackageVersion.objects.exists()
        assert not Package.objects.exists()
        assert files_in(package_files) == []


class TestUnlistRelist:
    @pytest.fixture
    def pushed(self, push, owner, make_key):
        _, value = make_key(owner, actions=["package:push", "package:unlist"])
        assert push(make_nupkg("Contoso.Core", "1.0"), value).status_code == 201
        return value

    def test_unlist_finds_the_normalized_version(self, client, pushed):
        response = client.delete(
            "/api/v2/package/contoso.core/1.0.0", headers={"X-NuGet-ApiKey": pushed}
        )
        assert response.status_code == 204
        assert not PackageVersion.objects.get().listed
        assert Event.objects.filter(kind="package:unlisted").count() == 1

    def test_relist_answers_200_even_when_listed(self, client, pushed):
        for _ in range(2):
            response = client.post(
                "/api/v2/package/Contoso.Core/1.0", headers={"X-NuGet-ApiKey": pushed}
            )
            assert response.status_code == 200
        assert PackageVersion.objects.get().listed
        client.delete("/api/v2/package/Contoso.Core/1.0.0.0", headers={"X-NuGet-ApiKey": pushed})
        assert not PackageVersion.objects.get().listed
        client.post("/api/v2/package/Contoso.Core/1.0.0/", headers={"X-NuGet-ApiKey": pushed})
        assert PackageVersion.objects.get().listed

    @pytest.mark.parametrize(
        "path", ["/api/v2/package/Contoso.Core/2.0.0", "/api/v2/package/Nope/1.0.0",
                 "/api/v2/package/Contoso.Core/not-a-version"],
    )  # fmt: skip
    def test_unknown_versions_are_404(self, client, pushed, path):
        assert client.delete(path, headers={"X-NuGet-ApiKey": pushed}).status_code == 404
        assert client.post(path, headers={"X-NuGet-ApiKey": pushed}).status_code == 404

    def test_unlist_needs_the_unlist_scope(self, client, pushed, owner, make_key):
        _, push_only = make_key(owner)
        response = client.delete(
            "/api/v2/package/Contoso.Core/1.0.0", headers={"X-NuGet-ApiKey": push_only}
        )
        assert response.status_code == 403
        assert PackageVersion.objects.get().listed

    def test_unlist_needs_ownership(self, client, pushed, make_user, make_key):
        _, other = make_key(make_user("bob"), actions=["package:unlist"])
        response = client.delete(
            "/api/v2/package/Contoso.Core/1.0.0", headers={"X-NuGet-ApiKey": other}
        )
        assert response.status_code == 403
        assert PackageVersion.objects.get().listed

    def test_no_key_is_401(self, client, pushed):
        assert client.delete("/api/v2/package/Contoso.Core/1.0.0").status_code == 401


class TestRateLimit:
    def test_failures_are_limited_per_address_and_valid_keys_pass(
        self, push, settings, owner, make_key
    ):
        settings.FEED_AUTH_FAILURE_LIMIT = 3
        _, value = make_key(owner)
        statuses = [push(make_nupkg(), "ngk_" + "B" * 38).status_code for _ in range(4)]
        assert statuses == [403, 403, 403, 429]
        limited = push(make_nupkg(), "garbage")
        assert limited.status_code == 429
        assert int(limited["Retry-After"]) >= 1
        # A valid key from the same address is not slowed by those failures.
        assert push(make_nupkg(), value).status_code == 201

    def test_over_the_limit_only_the_first_failure_is_audited(
        self, push, settings, owner, make_key, django_assert_num_queries
    ):
        settings.FEED_AUTH_FAILURE_LIMIT = 3
        revoked, value = make_key(owner)
        api_key_revoke(api_key=revoked, actor=owner)
        unknown = [keys.generate() for _ in range(7)]
        statuses = [push(make_nupkg(), key).status_code for key in unknown]
        assert statuses == [403] * 3 + [429] * 4
        failed = Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).order_by("pk")
        assert [event.details.get("rate_limited", False) for event in failed] == [
            False,
            False,
            False,
            True,
        ]
        # Beyond that, a failure costs the key lookup and nothing else: no write,
        # even for a key that exists (here a revoked one).
        with django_assert_num_queries(1):
            assert push(make_nupkg(), value).status_code == 429
        assert failed.count() == 4


class TestHostileInput:
    """Bad bytes get a 4xx whose reason phrase is one line of printable ASCII."""

    @pytest.fixture
    def value(self, push, owner, make_key):
        _, value = make_key(owner, actions=["package:push", "package:unlist"])
        assert push(make_nupkg("Contoso.Core", "1.0.0"), value).status_code == 201
        return value

    @pytest.mark.parametrize("char", ["%00", "%01", "%1b", "%7f", "%0d%0a"])
    @pytest.mark.parametrize("where", ["id", "version"])
    @pytest.mark.parametrize("method", ["delete", "post"])
    def test_control_characters_in_the_url_are_404_with_a_clean_reason(
        self, client, value, char, where, method
    ):
        package_id, version = "Contoso.Core", "1.0.0"
        if where == "id":
            package_id = f"Contoso{char}Core"
        else:
            version = f"1.0{char}.0"
        response = getattr(client, method)(
            f"/api/v2/package/{package_id}/{version}", headers={"X-NuGet-ApiKey": value}
        )
        assert response.status_code == 404
        reason = response.reason_phrase
        assert reason.isascii() and reason.isprintable(), repr(reason)
        assert "was not found" in reason
        assert PackageVersion.objects.get().listed

    def test_two_file_parts_are_400(self, client, owner, make_key, package_files):
        _, value = make_key(owner)
        body, content_type = multipart(make_nupkg("Contoso.Core", "1.0.0"))
        boundary = content_type.split("boundary=")[1]
        second = (
            b'Content-Disposition: form-data; name="other"; filename="other.nupkg"\r\n\r\n'
        ) + make_nupkg("Contoso.Other", "1.0.0")
        body = body.replace(f"--{boundary}--".encode(), f"--{boundary}\r\n".encode() + second
                            + f"\r\n--{boundary}--".encode())  # fmt: skip
        response = client.generic(
            "PUT", "/api/v2/package/", body, content_type, headers={"X-NuGet-ApiKey": value}
        )
        assert response.status_code == 400
        assert "one package file" in response.reason_phrase
        assert not PackageVersion.objects.exists()
        assert files_in(package_files) == []

    def test_a_closing_boundary_other_than_the_headers_is_400(
        self, client, owner, make_key, package_files
    ):
        _, value = make_key(owner)
        body, content_type = multipart(make_nupkg())
        boundary = content_type.split("boundary=")[1]
        body = body.replace(f"--{boundary}--".encode(), b"--someotherboundary--")
        response = client.generic(
            "PUT", "/api/v2/package/", body, content_type, headers={"X-NuGet-ApiKey": value}
        )
        assert response.status_code == 400
        assert "boundary" in response.reason_phrase
        assert not PackageVersion.objects.exists()
        assert files_in(package_files) == []
        assert Event.objects.get(kind="package:refused").details["code"] == "unterminated_body"

    def test_a_last_part_ended_by_a_bare_line_feed_is_stored_whole(
        self, client, owner, make_key, package_files
    ):
        # NuGet 2.8 ends the file part with "\n--boundary--", no CR.
        _, value = make_key(owner)
        package = make_nupkg()
        body, content_type = multipart(package)
        boundary = content_type.split("boundary=")[1]
        body = body.replace(f"\r\n--{boundary}--\r\n".encode(), f"\n--{boundary}--".encode())
        response = client.generic(
            "PUT", "/api/v2/package/", body, content_type, headers={"X-NuGet-ApiKey": value}
        )
        assert response.status_code == 201, response.reason_phrase
        assert PackageVersion.objects.get().size == len(package)

    @pytest.mark.parametrize("cut", [2, 10, 40])
    def test_a_body_shorter_than_its_content_length_is_400(
        self, client, owner, make_key, package_files, cut
    ):
        _, value = make_key(owner)
        body, content_type = multipart(make_nupkg())
        response = client.generic(
            "PUT", "/api/v2/package/", body[:-cut], content_type,
            headers={"X-NuGet-ApiKey": value}, CONTENT_LENGTH=str(len(body)),
        )  # fmt: skip
        assert response.status_code == 400
        assert not PackageVersion.objects.exists()
        assert files_in(package_files) == []

    @pytest.mark.parametrize(
        "files",
        [{"lib/A.dll": b"1", "lib/a.dll": b"2"}, {"lib/a.dll": b"1", "lib\\a.dll": b"2"}],
        ids=["case", "slash"],
    )
    def test_a_package_with_duplicate_entries_is_400(
        self, push, owner, make_key, package_files, files
    ):
        _, value = make_key(owner)
        response = push(make_nupkg(extra_files=files), value)
        assert response.status_code == 400
        assert "two files named" in response.reason_phrase
        assert not PackageVersion.objects.exists()
        assert files_in(package_files) == []
