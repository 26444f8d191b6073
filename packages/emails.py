"""Emails about a package's owners, each in its recipient's language.

An organization has no mailbox of its own here: what is addressed to it goes to each
of its administrators, the members who may answer for it.
"""

from django.urls import reverse

from accounts import conf as accounts_conf
from accounts.emails import send_to, site_url
from accounts.services import administrators_of, organization_of


def people_of(account) -> list:
    """Who reads mail for ``account``: the user, or the organization's administrators."""
    organization = organization_of(account)
    if organization is None:
        return [account]
    return administrators_of(organization)


def _send(account, template: str, context: dict) -> None:
    organization = organization_of(account) is not None
    for person in people_of(account):
        send_to(person, template, {"for_organization": organization, **context})


def send_ownership_request(ownership) -> None:
    """To the recipient of an ownership request: the link to accept or decline it."""
    package = ownership.package
    _send(
        ownership.new_owner,
        "packages/email/ownership_request",
        {
            "package": package.name,
            "new_owner": ownership.new_owner.get_username(),
            "requester": ownership.requested_by.get_username() if ownership.requested_by else "",
            "days": accounts_conf.INVITATION_LIFETIME.days,
            "url": site_url(
                reverse("packages:ownership_request", args=[package.name, ownership.pk])
            ),
        },
    )


def send_ownership_answered(ownership, *, accepted: bool) -> None:
    """To the owner who asked: the recipient accepted or declined."""
    if ownership.requested_by is None:
        return
    send_to(
        ownership.requested_by,
        "packages/email/ownership_accepted" if accepted else "packages/email/ownership_declined",
        {
            "package": ownership.package.name,
            "new_owner": ownership.new_owner.get_username(),
            "url": site_url(reverse("packages:manage_package", args=[ownership.package.name])),
        },
    )


def send_ownership_cancelled(ownership) -> None:
    """To the recipient of a request an owner withdrew: the emailed link no longer works."""
    _send(
        ownership.new_owner,
        "packages/email/ownership_cancelled",
        {"package": ownership.package.name, "new_owner": ownership.new_owner.get_username()},
    )


def send_owner_removed(*, package, owner, actor) -> None:
    """To a removed owner (an organization's administrators): who removed it."""
    _send(
        owner,
        "packages/email/owner_removed",
        {"package": package.name, "owner": owner.get_username(), "actor": actor.get_username()},
    )
