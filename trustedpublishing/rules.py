"""Does a verified token's claims match a policy's trust rule? No database.

``match(policy, claims, now)`` returns a ``Match`` (the token's IDs, which the
caller records on a policy's first use) or a ``Mismatch`` with a reason for the
audit log. Names compare case-insensitively, as GitHub and GitLab treat them;
numeric IDs exactly.
"""

from dataclasses import dataclass

from trustedpublishing import conf


@dataclass(frozen=True)
class Match:
    subject_owner_id: str
    subject_id: str
    # Recorded now: the policy had no IDs yet and was within its armed window.
    locks_ids: bool


@dataclass(frozen=True)
class Mismatch:
    code: str
    reason: str
    # True when the names matched but something later did not: the caller
    # controls this policy's repository or project, so may be told more.
    names_matched: bool = False

    def __bool__(self) -> bool:
        return False


def _text(claims: dict, name: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


def _ids(policy, owner_id: str, subject_id: str, now) -> Match | Mismatch:
    if policy.ids_locked:
        if owner_id != policy.subject_owner_id or subject_id != policy.subject_id:
            return Mismatch(
                "ids",
                f"IDs {owner_id}/{subject_id} differ from the recorded "
                f"{policy.subject_owner_id}/{policy.subject_id}",
            )
        return Match(owner_id, subject_id, locks_ids=False)
    if not policy.is_armed(now):
        return Mismatch(
            "not_armed", "the policy's IDs are not recorded and it is not armed", names_matched=True
        )
    return Match(owner_id, subject_id, locks_ids=True)


def _environment(policy, claims: dict) -> Mismatch | None:
    """The policy's environment, if it names one, against the token's (both providers)."""
    if policy.environment and not _same(_text(claims, "environment"), policy.environment):
        return Mismatch(
            "environment",
            f"environment {claims.get('environment')!s} is not {policy.environment}",
            names_matched=True,
        )
    return None


def _github(policy, claims: dict, now) -> Match | Mismatch:
    repository = _text(claims, "repository")
    owner = _text(claims, "repository_owner")
    owner_id = _text(claims, "repository_owner_id")
    repository_id = _text(claims, "repository_id")
    event = _text(claims, "event_name")
    if not (repository and owner and owner_id and repository_id and event):
        return Mismatch("claims", "a GitHub claim is missing")
    full_name = f"{policy.subject_owner}/{policy.subject}"
    if not _same(owner, policy.subject_owner) or not _same(repository, full_name):
        return Mismatch("repository", f"repository {repository} is not {full_name}")
    ids = _ids(policy, owner_id, repository_id, now)
    if not ids:
        return ids
    if event in conf.github_denied_events():
        return Mismatch("event", f"event {event} is denied", names_matched=True)
    workflow_ref = _text(claims, "job_workflow_ref") or ""
    path, _, _ref = workflow_ref.partition("@")
    folder = f"{repository}/.github/workflows/"
    if not path.casefold().startswith(folder.casefold()) or path[len(folder) :] != policy.workflow:
        return Mismatch(
            "workflow", f"workflow {workflow_ref} is not {policy.workflow}", names_matched=True
        )
    mismatch = _environment(policy, claims)
    return ids if mismatch is None else mismatch


def _gitlab(policy, claims: dict, now) -> Match | Mismatch:
    namespace = _text(claims, "namespace_path")
    project = _text(claims, "project_path")
    namespace_id = _text(claims, "namespace_id")
    project_id = _text(claims, "project_id")
    if not (namespace and project and namespace_id and project_id):
        return Mismatch("claims", "a GitLab claim is missing")
    # project_path is the full path, "namespace/project".
    full_path = f"{policy.subject_owner}/{policy.subject}"
    if not _same(namespace, policy.subject_owner) or not _same(project, full_path):
        return Mismatch("repository", f"project {project} is not {full_path}")
    ids = _ids(policy, namespace_id, project_id, now)
    if not ids:
        return ids
    if policy.ref and (_text(claims, "ref_type") != "branch" or _text(claims, "ref") != policy.ref):
        return Mismatch(
            "ref", f"ref {claims.get('ref')!s} is not the branch {policy.ref}", names_matched=True
        )
    mismatch = _environment(policy, claims)
    return ids if mismatch is None else mismatch


def match(policy, claims: dict, now) -> Match | Mismatch:
    """Whether ``claims`` (already verified, from ``policy.provider``'s issuer) match."""
    if policy.provider == conf.GITHUB:
        return _github(policy, claims, now)
    return _gitlab(policy, claims, now)


def run_details(provider: str, claims: dict) -> dict:
    """What the audit log keeps of a token: where it came from, never the token."""
    names = (
        (
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "job_workflow_ref",
            "workflow_ref",
            "event_name",
            "environment",
            "ref",
            "sha",
            "run_id",
            "run_attempt",
            "actor",
        )
        if provider == conf.GITHUB
        else (
            "namespace_path",
            "namespace_id",
            "project_path",
            "project_id",
            "ref",
            "ref_type",
            "environment",
            "pipeline_id",
            "job_id",
            "sha",
            "user_login",
            "ci_config_ref_uri",
        )
    )
    details = {name: str(claims[name])[:300] for name in names if claims.get(name) is not None}
    details["sub"] = str(claims.get("sub", ""))[:300]
    return details
