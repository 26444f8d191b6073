"""The owner's forms: the Listing of a package's versions, adding an owner, the Upload
of a .nupkg and the owner of a new package ID."""

from django import forms
from django.contrib.auth import get_user_model
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from accounts.services import accounts_for
from packages import conf, nupkg, uploads


class ListingForm(forms.Form):
    """One checkbox per version; only the versions the page showed can change.

    ``shown`` names the versions that were on the page, so a version pushed while
    the owner looked at it is not unlisted for having no ticked box.
    """

    listed = forms.MultipleChoiceField(required=False)
    shown = forms.MultipleChoiceField()

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(version.pk): version for version in versions}
        choices = [(pk, version.normalized_version) for pk, version in self.versions.items()]
        self.fields["listed"].choices = choices
        self.fields["shown"].choices = choices

    def changes(self) -> list[tuple[object, bool]]:
        """``(version, listed)`` for each shown version whose box differs from its state."""
        listed = set(self.cleaned_data["listed"])
        changed = []
        for pk in self.cleaned_data["shown"]:
            version = self.versions[pk]
            wanted = pk in listed
            if version.listed != wanted:
                changed.append((version, wanted))
        return changed


class OwnerAddForm(forms.Form):
    """Who to ask to co-own the package: a user or an organization, by name."""

    new_owner = forms.CharField(
        label=_("User or organization name"),
        max_length=get_user_model()._meta.get_field("username").max_length,
        error_messages={"required": _("Enter the name of a user or an organization.")},
    )


class UploadForm(forms.Form):
    """The .nupkg to upload, read and checked against the uploader's packages.

    Valid, it holds ``metadata`` (what the package says) and ``package`` (the
    uploader's package it adds a version to, or None for a new ID). ``refused``
    is the ownership refusal or existing version, for the audit log.
    """

    package = forms.FileField(
        label=_("Package file"),
        widget=forms.FileInput(attrs={"accept": ".nupkg"}),
        error_messages={"required": _("Choose a .nupkg file to upload.")},
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.metadata = None
        self.target = None
        self.refused = None
        self.fields["package"].help_text = _("A .nupkg file of at most %(size)s.") % {
            "size": filesizeformat(conf.max_package_size())
        }

    def clean_package(self):
        file = self.cleaned_data["package"]
        try:
            self.metadata = nupkg.read(file)
        except nupkg.InvalidPackage as invalid:
            raise forms.ValidationError(invalid.reason, code=invalid.code) from None
        try:
            self.target = uploads.upload_target(metadata=self.metadata, user=self.user)
        except uploads.Refused as refused:
            self.refused = refused
            raise forms.ValidationError(refused.reason, code=refused.code) from None
        return file


class PackageOwnerForm(forms.Form):
    """Who a new package ID will belong to: the uploader, or an organization they may
    publish for. Nothing is pre-selected when there is more than one choice, as on the
    API Keys page; with only the uploader to choose, the field may be left out."""

    owner = forms.ChoiceField(
        label=_("Package Owner"),
        error_messages={
            "required": _("A package owner must be selected."),
            "invalid_choice": _("A package owner must be selected."),
        },
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.accounts = {account.get_username(): account for account in accounts_for(user)}
        choices = [(name, name) for name in self.accounts]
        field = self.fields["owner"]
        if len(choices) > 1:
            field.choices = [("", _("Select an owner")), *choices]
        else:
            field.choices = choices
            field.required = False

    @property
    def has_choice(self) -> bool:
        return len(self.accounts) > 1

    def chosen_owner(self):
        """The chosen account (the uploader when there was nothing to choose)."""
        return self.accounts.get(self.cleaned_data.get("owner") or "", self.user)
