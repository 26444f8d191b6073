"""The Create and Edit forms of the API Keys page, with nuget.org's labels and messages.

The forms give the user a message next to the field; the services validate
again, so a key written by any other path obeys the same rules.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from apikeys import conf
from apikeys.scopes import Action, parse_globs


class PackageSelectionForm(forms.Form):
    """Which packages a key covers: glob patterns and/or picked package IDs."""

    globs = forms.CharField(
        label=_("Glob Pattern"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "data-glob-input": ""}),
        help_text=_(
            "One per line, at most %(max)d. “*” matches any characters: “*” covers every "
            "package, “Contoso.*” every ID that starts with “Contoso.”."
        ),
    )
    packages = forms.MultipleChoiceField(
        label=_("Available Packages"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-package-choice": ""}),
    )

    def __init__(self, *args, package_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["packages"].choices = [(name, name) for name in package_names]
        self.fields["globs"].help_text = self.fields["globs"].help_text % {"max": conf.max_globs()}

    def clean_globs(self) -> list[str]:
        return parse_globs(self.cleaned_data.get("globs", ""))

    def clean(self):
        cleaned = super().clean()
        if (
            "globs" in cleaned
            and "packages" in cleaned
            and not cleaned["globs"]
            and not cleaned["packages"]
        ):
            self.add_error("globs", _("Enter a glob pattern or select at least one package."))
        return cleaned


class ApiKeyCreateForm(PackageSelectionForm):
    name = forms.CharField(
        label=_("Key Name"),
        max_length=256,
        error_messages={
            "required": _("The key name is required."),
            "max_length": _("The key name can be at most 256 characters long."),
        },
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in = forms.TypedChoiceField(
        label=_("Expires In"),
        coerce=int,
        help_text=_("Days until the key stops working."),
    )
    owner = forms.ChoiceField(
        label=_("Package Owner"),
        error_messages={"required": _("A package owner must be selected.")},
    )
    push = forms.BooleanField(label=_("Push"), required=False)
    push_type = forms.ChoiceField(
        label=_("Push"),
        required=False,
        widget=forms.RadioSelect,
        choices=[
            (Action.PUSH.value, Action.PUSH.label),
            (Action.PUSH_VERSION.value, Action.PUSH_VERSION.label),
        ],
        initial=Action.PUSH.value,
    )
    unlist = forms.BooleanField(label=Action.UNLIST.label, required=False)
    read = forms.BooleanField(label=Action.READ.label, required=False)
    field_order = [
        "name",
        "expires_in",
        "owner",
        "push",
        "push_type",
        "unlist",
        "read",
        "globs",
        "packages",
    ]

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        days = conf.expiration_choices()
        labels = {1: _("1 day")}
        self.fields["expires_in"].choices = [
            (d, labels.get(d) or _("%(days)d days") % {"days": d}) for d in days
        ]
        self.fields["expires_in"].initial = days[-1]
        # Organizations come later: today the only possible owner is the user.
        username = owner.get_username()
        self.fields["owner"].choices = [(username, username)]
        self.fields["owner"].initial = username

    def clean(self):
        cleaned = super().clean()
        actions = []
        if cleaned.get("push"):
            if cleaned.get("push_type") not in (Action.PUSH, Action.PUSH_VERSION):
                self.add_error("push_type", _("Choose what the key may push."))
            else:
                actions.append(cleaned["push_type"])
        if cleaned.get("unlist"):
            actions.append(Action.UNLIST.value)
        if cleaned.get("read"):
            actions.append(Action.READ.value)
        if not actions and not self.has_error("push_type"):
            self.add_error("push", _("At least one scope must be selected."))
        cleaned["actions"] = actions
        return cleaned
