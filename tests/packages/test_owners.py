"""Package owners: ownership requests, their answers, removing owners (the services)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import conf as accounts_conf
from audit.models import Event, EventKind
from packages import services
from packages.models import OwnershipRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    """ada administers Contoso, cole collaborates there; bob and mallory are on their own."""
    return {name: make_user(name) for name in ("ada", "cole", "bob", "mallory", "fay")}


@pytest.fixture
def contoso(make_organization, people):
    return make_organization("Contoso", people["ada"], {people["cole"]: "collaborator"})


@pytest.fixture
def package(make_package, contoso):
    """Contoso.Core, owned by the organization Contoso."""
    return make_package("Contoso.Core", contoso.account)


def owner_names(package):
    return sorted(package.owners.values_list("username", flat=True))


def ask(package, name, actor, run_on_commit):
    with run_on_commit(execute=True):
        return services.ownership_request(package=package, new_owner_name=name, actor=actor)


def subjects(kind):
    return sorted(Event.objects.filter(kind=kind).values_list("subject_user__username", flat=True))


class TestRequesting:
    def test_an_administrator_of_an_owner_asks_a_user_who_is_emailed_the_link(
        self, package, people, contoso, mailoutbox, django_capture_on_commit_callbacks
    ):
        ownership = ask(package, "BOB", people["ada"], django_capture_on_commit_callbacks)
        assert (ownership.new_owner, ownership.requested_by) == (people["bob"], people["ada"])
        assert ownership.expires_at - ownership.created_at == accounts_conf.INVITATION_LIFETIME
        assert owner_names(package) == ["Contoso"]
        (mail,) = mailoutbox
        assert mail.to == ["bob@example.com"]
        assert "Contoso.Core" in mail.subject
        assert "ada asks you to become an owner of the package Contoso.Core" in mail.body
        assert f"/packages/Contoso.Core/owners/requests/{ownership.pk}" in mail.body
        # The owners (the organization's own history), the recipient and the actor.
        assert subjects(EventKind.OWNERSHIP_REQUESTED) == ["Contoso", "ada", "bob"]
        for event in Event.objects.filter(kind=EventKind.OWNERSHIP_REQUESTED):
            assert (event.actor, event.package_id) == (people["ada"], "Contoso.Core")
            assert event.details == {"owner": "bob"}

    def test_a_user_owner_asks_an_organization_whose_administrators_are_emailed(
        self, make_package, make_organization, people, mailoutbox,
        django_capture_on_commit_callbacks,
    ):  # fmt: skip
        fabrikam = make_organization(
            "Fabrikam", people["fay"], {people["mallory"]: "collaborator", people["bob"]: "admin"}
        )
        package = make_package("Bob.Tools", people["bob"])
        ask(package, "fabrikam", people["bob"], django_capture_on_commit_callbacks)
        # Every administrator, no collaborator, and nothing to the organization itself.
        assert sorted(mail.to[0] for mail in mailoutbox) == ["bob@example.com", "fay@example.com"]
        assert "asks the organization Fabrikam to become an owner" in mailoutbox[0].body
        assert subjects(EventKind.OWNERSHIP_REQUESTED) == ["Fabrikam", "bob"]
        assert OwnershipRequest.objects.get().new_owner == fabrikam.account

    @pytest.mark.parametrize("who", ["cole", "mallory", "bob"])
    def test_only_an_administrator_of_an_owner_may_ask(self, package, people, who):
        with pytest.raises(PermissionDenied):
            services.ownership_request(package=package, new_owner_name="fay", actor=people[who])
        assert not OwnershipRequest.objects.exists()
        assert not Event.objects.filter(kind=EventKind.OWNERSHIP_REQUESTED).exists()

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            # The account's own casing in the message, whatever was typed.
            ("contoso", "Contoso is already an owner of this package."),
            ("nobody", "No user or organization has this name."),
            ("  ", "No user or organization has this name."),
        ],
    )
    def test_existing_owners_and_unknown_names_are_refused_on_the_field(
        self, package, people, name, message
    ):
        with pytest.raises(ValidationError) as refused:
            services.ownership_request(package=package, new_owner_name=name, actor=people["ada"])
        assert refused.value.message_dict == {"new_owner": [message]}
        assert not OwnershipRequest.objects.exists()

    def test_asking_again_renews_the_request(
        self, package, people, make_user, django_capture_on_commit_callbacks, mailoutbox
    ):
        first = ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
        OwnershipRequest.objects.filter(pk=first.pk).update(
            created_at=timezone.now() - accounts_conf.RESEND_AFTER,
            expires_at=timezone.now() - timedelta(days=1),
        )
        second = ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
        assert OwnershipRequest.objects.count() == 1
        assert second.pk == first.pk
        assert not OwnershipRequest.objects.get().is_expired()
        assert len(mailoutbox) == 2

    def test_asking_again_at_once_renews_without_another_email(
        self, package, people, django_capture_on_commit_callbacks, mailoutbox
    ):
        for _ in range(5):
            ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
        assert OwnershipRequest.objects.count() == 1
        assert len(mailoutbox) == 1


class TestAnswering:
    @pytest.fixture
    def to_bob(self, package, people, django_capture_on_commit_callbacks):
        return ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)

    def test_the_recipient_accepts_and_becomes_an_owner(
        self, to_bob, package, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.ownership_accept(request_id=to_bob.pk, user=people["bob"])
        assert owner_names(package) == ["Contoso", "bob"]
        assert not OwnershipRequest.objects.exists()
        assert subjects(EventKind.OWNERSHIP_ACCEPTED) == ["Contoso", "bob"]
        event = Event.objects.filter(kind=EventKind.OWNERSHIP_ACCEPTED).first()
        assert (event.actor, event.package_id, event.details) == (
            people["bob"], "Contoso.Core", {"owner": "bob"}
        )  # fmt: skip
        # The owner who asked hears of it.
        (mail,) = mailoutbox
        assert mail.to == ["ada@example.com"]
        assert "bob accepted your request" in mail.body

    @pytest.mark.parametrize("who", ["ada", "cole", "mallory", "fay"])
    def test_nobody_else_can_accept_or_decline(self, to_bob, package, people, who):
        for answer in (services.ownership_accept, services.ownership_decline):
            with pytest.raises(services.NotFound):
                answer(request_id=to_bob.pk, user=people[who])
        assert owner_names(package) == ["Contoso"]
        assert OwnershipRequest.objects.filter(pk=to_bob.pk).exists()

    def test_a_request_is_answered_once(self, to_bob, people):
        services.ownership_accept(request_id=to_bob.pk, user=people["bob"])
        events = Event.objects.count()
        for answer in (services.ownership_accept, services.ownership_decline):
            with pytest.raises(services.NotFound):
                answer(request_id=to_bob.pk, user=people["bob"])
        assert Event.objects.count() == events

    def test_a_made_up_id_is_not_found(self, people):
        with pytest.raises(services.NotFound):
            services.ownership_accept(request_id=987654, user=people["bob"])

    def test_an_expired_request_changes_nothing(self, to_bob, package, people):
        OwnershipRequest.objects.filter(pk=to_bob.pk).update(expires_at=timezone.now())
        for answer in (services.ownership_accept, services.ownership_decline):
            with pytest.raises(ValidationError) as refused:
                answer(request_id=to_bob.pk, user=people["bob"])
            assert refused.value.messages == [
                "This ownership request has expired. Ask an owner of the package for a new one."
            ]
        assert owner_names(package) == ["Contoso"]
        assert OwnershipRequest.objects.filter(pk=to_bob.pk).exists()
        assert not Event.objects.filter(
            kind__in=[EventKind.OWNERSHIP_ACCEPTED, EventKind.OWNERSHIP_DECLINED]
        ).exists()

    def test_declining_leaves_the_owners_and_tells_the_owner_who_asked(
        self, to_bob, package, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.ownership_decline(request_id=to_bob.pk, user=people["bob"])
        assert owner_names(package) == ["Contoso"]
        assert not OwnershipRequest.objects.exists()
        assert subjects(EventKind.OWNERSHIP_DECLINED) == ["Contoso", "bob"]
        (mail,) = mailoutbox
        assert (mail.to, "bob declined" in mail.body) == (["ada@example.com"], True)

    def test_an_administrator_accepts_for_the_organization_a_collaborator_cannot(
        self, make_package, make_organization, people, django_capture_on_commit_callbacks
    ):
        fabrikam = make_organization("Fabrikam", people["fay"], {people["mallory"]: "collaborator"})
        package = make_package("Bob.Tools", people["bob"])
        ownership = ask(package, "Fabrikam", people["bob"], django_capture_on_commit_callbacks)
        with pytest.raises(services.NotFound):
            services.ownership_accept(request_id=ownership.pk, user=people["mallory"])
        services.ownership_accept(request_id=ownership.pk, user=people["fay"])
        assert owner_names(package) == ["Fabrikam", "bob"]
        # The organization's history, the other owner's, and the administrator's.
        assert subjects(EventKind.OWNERSHIP_ACCEPTED) == ["Fabrikam", "bob", "fay"]
        # Its members act for the package from now on; collaborators included.
        assert services.package_publishable_by(package, people["mallory"])
        assert not services.may_manage_owners(
            services.package_owners_for(package, people["mallory"])
        )
        assert services.may_manage_owners(services.package_owners_for(package, people["fay"]))
        assert fabrikam.account.packages.get() == package


class TestRemoving:
    @pytest.fixture
    def shared(self, package, people):
        """Contoso.Core, owned by Contoso and bob."""
        package.owners.add(people["bob"])
        return package

    def test_an_administrator_removes_another_owner_who_is_told(
        self, shared, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.owner_remove(package=shared, owner=people["bob"], actor=people["ada"])
        assert owner_names(shared) == ["Contoso"]
        assert subjects(EventKind.OWNER_REMOVED) == ["Contoso", "ada", "bob"]
        event = Event.objects.filter(kind=EventKind.OWNER_REMOVED).first()
        assert (event.package_id, event.details) == ("Contoso.Core", {"owner": "bob"})
        (mail,) = mailoutbox
        assert mail.to == ["bob@example.com"]
        assert "ada removed you from the owners of the package Contoso.Core" in mail.body

    def test_a_user_owner_removes_the_organization_whose_administrators_are_told(
        self, shared, people, contoso, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.owner_remove(package=shared, owner=contoso.account, actor=people["bob"])
        assert owner_names(shared) == ["bob"]
        assert [mail.to for mail in mailoutbox] == [["ada@example.com"]]
        assert not services.package_publishable_by(shared, people["cole"])

    def test_the_last_owner_stays(self, package, people, contoso):
        with pytest.raises(ValidationError) as refused:
            services.owner_remove(package=package, owner=contoso.account, actor=people["ada"])
        assert "at least one owner" in refused.value.messages[0]
        assert owner_names(package) == ["Contoso"]
        assert not Event.objects.filter(kind=EventKind.OWNER_REMOVED).exists()

    @pytest.mark.parametrize("who", ["cole", "mallory"])
    def test_only_an_administrator_of_an_owner_removes(self, shared, people, who):
        with pytest.raises(PermissionDenied):
            services.owner_remove(package=shared, owner=people["bob"], actor=people[who])
        assert owner_names(shared) == ["Contoso", "bob"]

    def test_removing_a_pending_owner_cancels_the_request(
        self, package, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        ownership = ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.owner_remove(package=package, owner=people["bob"], actor=people["ada"])
        assert not OwnershipRequest.objects.exists()
        assert owner_names(package) == ["Contoso"]
        event = Event.objects.filter(kind=EventKind.OWNERSHIP_DECLINED).first()
        assert event.details == {"owner": "bob", "cancelled": True}
        assert subjects(EventKind.OWNERSHIP_DECLINED) == ["Contoso", "ada", "bob"]
        (mail,) = mailoutbox
        assert (mail.to, "withdrew the request" in mail.body) == (["bob@example.com"], True)
        with pytest.raises(services.NotFound):
            services.ownership_accept(request_id=ownership.pk, user=people["bob"])

    def test_cancelling_a_request_by_its_id(
        self, package, people, django_capture_on_commit_callbacks
    ):
        ownership = ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
        with pytest.raises(PermissionDenied):
            services.ownership_request_cancel(
                package=package, request_id=ownership.pk, actor=people["cole"]
            )
        services.ownership_request_cancel(
            package=package, request_id=ownership.pk, actor=people["ada"]
        )
        assert not OwnershipRequest.objects.exists()
        with pytest.raises(services.NotFound):
            services.ownership_request_cancel(
                package=package, request_id=ownership.pk, actor=people["ada"]
            )

    def test_someone_neither_owner_nor_asked_is_not_found(self, shared, people):
        with pytest.raises(services.NotFound):
            services.owner_remove(package=shared, owner=people["fay"], actor=people["ada"])


class TestWhoActsForAPackage:
    def test_roles_come_from_the_owners(self, package, people, contoso):
        package.owners.add(people["bob"])
        roles = {
            who: [(o.name, o.is_organization, o.viewer_role)
                  for o in services.package_owners_for(package, people[who])]
            for who in ("ada", "cole", "bob", "mallory")
        }  # fmt: skip
        assert roles == {
            "ada": [("bob", False, None), ("Contoso", True, "admin")],
            "cole": [("bob", False, None), ("Contoso", True, "collaborator")],
            "bob": [("bob", False, "admin"), ("Contoso", True, None)],
            "mallory": [("bob", False, None), ("Contoso", True, None)],
        }

    def test_the_owners_and_roles_cost_one_query(
        self, package, people, make_organization, django_assert_num_queries
    ):
        for n in range(5):
            package.owners.add(make_organization(f"Org{n}", people["ada"]).account)
        with django_assert_num_queries(1):
            assert len(services.package_owners_for(package, people["ada"])) == 6


def test_search_by_owner_follows_accepted_and_removed_owners(
    package, people, django_capture_on_commit_callbacks
):
    from packages import search
    from packages.models import PackageVersion

    PackageVersion.objects.create(
        package=package, version="1.0.0", normalized_version="1.0.0", size=1, sha512="x"
    )
    search.search_entry_refresh(package=package)

    def found(owner):
        query = search.SearchQuery(q=f"owner:{owner}")
        return [hit.package_id for hit in search.search(query).hits]

    assert found("contoso") == ["Contoso.Core"]
    to_bob = ask(package, "bob", people["ada"], django_capture_on_commit_callbacks)
    assert found("bob") == []
    services.ownership_accept(request_id=to_bob.pk, user=people["bob"])
    assert found("bob") == ["Contoso.Core"]
    services.owner_remove(package=package, owner=people["bob"], actor=people["ada"])
    assert found("bob") == []
    assert found("contoso") == ["Contoso.Core"]
