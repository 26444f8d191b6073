"""A folder storage that records the name of every file it writes, as it writes it."""

from django.core.files.storage import FileSystemStorage


class RecordingStorage(FileSystemStorage):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.written: list[str] = []

    def _save(self, name, content):
        # Every write of a file's bytes through the storage comes here (save()
        # only picks the name first); a rename on disk does not.
        self.written.append(name)
        return super()._save(name, content)
