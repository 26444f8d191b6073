"""Where .nupkg files live: Django's storage API, so an object store can replace the folder."""

from django.core.files.storage import storages


def package_storage():
    return storages["packages"]


def file_name_for(package_id: str, normalized_version: str) -> str:
    # Lower-case, as NuGet's flat container lays files out: IDs and versions
    # compare case-insensitively, so their files must not differ by case.
    package_id, version = package_id.lower(), normalized_version.lower()
    return f"{package_id}/{version}/{package_id}.{version}.nupkg"
