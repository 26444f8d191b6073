"""Settings of organizations, with their defaults."""

from datetime import timedelta

# nuget.org's invitations and ownership requests are answered within a week.
INVITATION_LIFETIME = timedelta(days=7)
