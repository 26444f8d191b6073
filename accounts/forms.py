"""The organization pages' forms. They check what the browser sent; the services
decide the rest (a name's availability, who may act) and their errors are put back
on these fields by name."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts.models import Role

_NAME_MAX_LENGTH = get_user_model()._meta.get_field("username").max_length
_PLAIN = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}


class OrganizationAddForm(forms.Form):
    name = forms.CharField(
        label=_("Organization name"),
        max_length=_NAME_MAX_LENGTH,
        help_text=_(
            "Its address on this site and its name as a package owner. Users and "
            "organizations share names: it must not be taken by either, in any casing."
        ),
        error_messages={"required": _("The organization name is required.")},
        widget=forms.TextInput(attrs=_PLAIN),
    )
    email = forms.EmailField(
        label=_("Contact email"),
        help_text=_("Where people reach the organization. Nobody signs in with it."),
        error_messages={"required": _("A contact email address is required.")},
    )

    def clean_name(self):
        return self.cleaned_data["name"].strip()


class OrganizationEditForm(forms.Form):
    email = forms.EmailField(
        label=_("Contact email"),
        error_messages={"required": _("A contact email address is required.")},
    )


class MemberInviteForm(forms.Form):
    who = forms.CharField(
        label=_("User name or email address"),
        max_length=254,
        help_text=_("An existing user, by user name or confirmed email address."),
        error_messages={"required": _("Enter a user name or email address.")},
        widget=forms.TextInput(attrs=_PLAIN),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=Role.choices,
        initial=Role.COLLABORATOR,
        widget=forms.RadioSelect,
        help_text=_(
            "Administrators manage members, package owners and the organization. "
            "Collaborators push, unlist and relist the organization's packages."
        ),
        error_messages={"required": _("Choose a role.")},
    )


class MemberForm(forms.Form):
    """Which member an administrator acts on (removal)."""

    member = forms.CharField(max_length=_NAME_MAX_LENGTH)


class MemberRoleForm(MemberForm):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class InvitationCancelForm(forms.Form):
    invitation = forms.IntegerField(min_value=1)
