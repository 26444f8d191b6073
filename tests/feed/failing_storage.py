"""A storage backend whose disk fills up halfway through every file it writes."""

import os

from django.core.files.storage import FileSystemStorage


class HalfWriteStorage(FileSystemStorage):
    def _save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.read()
        with open(path, "wb") as half:
            half.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")
