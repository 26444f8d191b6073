"""The owner's forms: the Listing of a package's versions, and the Upload of a .nupkg."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

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
