"""A storage backend whose ``url()`` signs as an object store's does, for redirect tests."""

from django.core.files.storage import FileSystemStorage


class SigningStorage(FileSystemStorage):
    def url(self, name, expire=None):
        return f"https://objects.example.com/{name}?expires-in={expire}"
