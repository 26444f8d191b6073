"""Settings of organizations, with their defaults."""

from datetime import timedelta

# nuget.org's invitations and ownership requests are answered within a week.
INVITATION_LIFETIME = timedelta(days=7)
# Inviting again (or asking again for co-ownership) renews the invitation at once,
# but emails again only after this long: an administrator's repeated clicks cannot
# turn the site into a mail cannon aimed at one person.
RESEND_AFTER = timedelta(minutes=10)
