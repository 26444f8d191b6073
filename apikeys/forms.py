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

    def package_options(self) -> list[tuple[str, str, str]]:
        """``(value, label, owners)`` per package; ``owners``, the names of the
        Package Owners that own it (space-separated), lets the page show only the
        chosen owner's packages."""
        return [(value, label, "") for value, label in self.fields["packages"].choices]

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
        error_messages={
            "required": _("A package owner must be selected."),
            "invalid_choice": _("You may not publish for this package owner."),
        },
        widget=forms.Select(attrs={"data-package-owner": ""}),
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

    def __init__(self, *args, owners: list[tuple], owner_fixed: bool = False, **kwargs):
        """``owners``: ``(account, package IDs)`` per possible Package Owner, the
        user first (``apikeys.selectors.package_owners_for``). ``owner_fixed``
        shows the one owner without letting it change (editing a policy)."""
        names = {}
        for _account, package_names in owners:
            for name in package_names:
                names.setdefault(name.lower(), name)
        super().__init__(*args, package_names=sorted(names.values(), key=str.lower), **kwargs)
        days = conf.expiration_choices()
        labels = {1: _("1 day")}
        self.fields["expires_in"].choices = [
            (d, labels.get(d) or _("%(days)d days") % {"days": d}) for d in days
        ]
        self.fields["expires_in"].initial = days[-1]
        self.owner_accounts = {account.get_username(): account for account, _names in owners}
        self.owner_packages = {
            account.get_username(): package_names for account, package_names in owners
        }
        usernames = list(self.owner_accounts)
        field = self.fields["owner"]
        if len(usernames) == 1:
            field.choices = [(usernames[0], usernames[0])]
            field.initial = usernames[0]
        else:
            # As on nuget.org: with a choice to make, nothing is chosen for the user.
            field.choices = [("", _("Select a package owner")), *((u, u) for u in usernames)]
        field.disabled = owner_fixed

    def package_options(self) -> list[tuple[str, str, str]]:
        owners_of = {}
        for username, package_names in self.owner_packages.items():
            for name in package_names:
                owners_of.setdefault(name.lower(), []).append(username)
        return [
            (value, label, " ".join(owners_of.get(value.lower(), [])))
            for value, label in self.fields["packages"].choices
        ]

    def clean_owner(self):
        """The chosen Package Owner's account."""
        return self.owner_accounts[self.cleaned_data["owner"]]

    def clean(self):
        cleaned = super().clean()
        owner = cleaned.get("owner")
        picked = cleaned.get("packages") or []
        if owner is not None and picked:
            # The page shows only the chosen owner's packages; without JavaScript
            # it shows every owner's, and this says which were not the chosen one's.
            owned = {name.lower() for name in self.owner_packages[owner.get_username()]}
            others = [name for name in picked if name.lower() not in owned]
            if others:
                self.add_error(
                    "packages",
                    _("%(owner)s does not own these packages: %(ids)s")
                    % {"owner": owner.get_username(), "ids": ", ".join(others)},
                )
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


class ApiKeyRevokeForm(forms.Form):
    """Why an organization's administrator revokes a key; its creator is told."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown in the audit log and in the email to the key's creator."),
        error_messages={"required": _("Say why the key is revoked; its creator is told.")},
    )
