"""The policy form: a name, the Package Owner, scopes and packages as keys have
them, and the trust rule of one provider. The services validate again."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apikeys.forms import ApiKeyCreateForm
from trustedpublishing.models import Provider

# Form field -> model field, per provider: each provider's fields keep their own
# names and labels on the page, so that switching provider loses nothing typed.
RULE_FIELDS = {
    Provider.GITHUB: {
        "github_owner": "subject_owner",
        "github_repository": "subject",
        "github_workflow": "workflow",
        "github_environment": "environment",
    },
    Provider.GITLAB: {
        "gitlab_namespace": "subject_owner",
        "gitlab_project": "subject",
        "gitlab_ref": "ref",
        "gitlab_environment": "environment",
    },
}
REQUIRED = {"github_owner", "github_repository", "github_workflow", "gitlab_namespace",
            "gitlab_project"}  # fmt: skip


def _text(label, help_text="", placeholder=""):
    attrs = {"autocomplete": "off", "spellcheck": "false"}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.CharField(
        label=label,
        required=False,
        max_length=255,
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs),
    )


class PolicyForm(ApiKeyCreateForm):
    provider = forms.ChoiceField(
        label=_("Trusted Publisher"),
        choices=Provider.choices,
        initial=Provider.GITHUB,
        widget=forms.RadioSelect(attrs={"data-provider-choice": ""}),
    )
    github_owner = _text(_("Repository Owner"), _("The user or organization, e.g. contoso."))
    github_repository = _text(_("Repository"), _("The repository's name, e.g. widgets."))
    github_workflow = _text(
        _("Workflow File"),
        _("The file name under .github/workflows, e.g. release.yml."),
    )
    github_environment = _text(
        _("Environment"), _("Optional: only jobs that run in this GitHub environment.")
    )
    gitlab_namespace = _text(
        _("Namespace"), _("The group or user path, e.g. contoso or contoso/tools.")
    )
    gitlab_project = _text(_("Project"), _("The project's path in its namespace, e.g. widgets."))
    gitlab_ref = _text(_("Branch"), _("Optional: only pipelines of this branch, e.g. main."))
    gitlab_environment = _text(
        _("Environment"), _("Optional: only jobs that deploy to this environment.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A policy's keys live minutes, set by the operator: no expiry to choose.
        del self.fields["expires_in"]
        self.fields["name"].label = _("Policy Name")
        self.fields["name"].error_messages["required"] = _("The policy name is required.")

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if provider in RULE_FIELDS:
            for field, target in RULE_FIELDS[provider].items():
                value = (cleaned.get(field) or "").strip()
                if field in REQUIRED and not value:
                    self.add_error(field, _("This field is required."))
                cleaned[target] = value
        return cleaned

    def rule(self) -> dict:
        """The model fields the cleaned form sets."""
        data = self.cleaned_data
        fields = {
            "name": data["name"],
            "provider": data["provider"],
            "actions": data["actions"],
            "package_ids": data["packages"],
            "globs": data["globs"],
        }
        for target in ("subject_owner", "subject", "workflow", "ref", "environment"):
            fields[target] = data.get(target, "")
        return fields

    @classmethod
    def initial_for(cls, policy) -> dict:
        initial = {
            "name": policy.name,
            "provider": policy.provider,
            "globs": "\n".join(policy.globs),
            "packages": policy.package_ids,
            "unlist": "package:unlist" in policy.actions,
            "read": "package:read" in policy.actions,
        }
        pushes = [a for a in policy.actions if a in ("package:push", "package:pushversion")]
        initial["push"] = bool(pushes)
        if pushes:
            initial["push_type"] = pushes[0]
        for field, target in RULE_FIELDS[policy.provider].items():
            initial[field] = getattr(policy, target)
        return initial
