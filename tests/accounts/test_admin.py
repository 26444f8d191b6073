"""Organizations in the admin: found by name, members and invitations inline, and
nothing changed there (the site's services do that, with their checks and audit)."""

import pytest

from accounts.models import Organization, Role
from accounts.services import member_invite

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("root1", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def contoso(make_organization, make_user):
    ada, bob = make_user("ada"), make_user("bob")
    organization = make_organization("Contoso", ada, {bob: Role.COLLABORATOR})
    make_user("carol")
    member_invite(organization=organization, who="carol", role=Role.ADMINISTRATOR, actor=ada)
    return organization


def test_organizations_are_searchable_by_name(staff_client, contoso, make_organization,
                                              make_user):  # fmt: skip
    make_organization("Fabrikam", make_user("dave"))

    page = staff_client.get("/admin/accounts/organization/", {"q": "contoso"}).content.decode()

    assert "Contoso" in page
    assert "Fabrikam" not in page
    assert "1 organization" in page


def test_the_organization_shows_members_and_invitations_inline(staff_client, contoso):
    response = staff_client.get(f"/admin/accounts/organization/{contoso.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Memberships" in page and "Invitations" in page
    for name in ("ada", "bob", "carol"):
        assert name in page
    assert "Collaborator" in page and "Administrator" in page
    # Read only: no field to edit, and a change posted anyway is refused.
    assert 'name="email"' not in page
    assert 'name="memberships-0-role"' not in page
    response = staff_client.post(
        f"/admin/accounts/organization/{contoso.pk}/change/", {"email": "x@example.com"}
    )
    assert response.status_code == 403
    contoso.refresh_from_db()
    assert contoso.email == "contoso@example.com"


def test_organizations_are_neither_added_nor_deleted_here(staff_client, contoso):
    assert staff_client.get("/admin/accounts/organization/add/").status_code == 403
    response = staff_client.post(
        f"/admin/accounts/organization/{contoso.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Organization.objects.filter(pk=contoso.pk).exists()
