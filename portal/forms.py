"""The sign-up form: a taken email address is no error the visitor can see."""

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.account.utils import filter_users_by_email


class SignupForm(AllauthSignupForm):
    def validate_unique_email(self, value: str) -> str:
        # allauth refuses a taken address in the form unless verification is
        # mandatory for everyone, which would keep unconfirmed users from
        # signing in. Here the form accepts it and remembers; the register view
        # then answers as for a new address and writes to the owner instead.
        # allauth's save() refuses to create an account while this is set.
        self.account_already_exists = bool(filter_users_by_email(value))
        return value
