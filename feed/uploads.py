"""Receiving a pushed .nupkg: a multipart body streamed to an anonymous temporary file.

Memory stays flat whatever the package size: parts are written as they
arrive, and the SHA-512 and size are taken on the way.
"""

import base64
import hashlib
import tempfile

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http.multipartparser import MultiPartParser, MultiPartParserError

from packages.services import Upload


class TooLarge(Exception):
    pass


class BadUpload(Exception):
    """The body is not a push we can read: ``reason`` for the client, ``code`` for the log."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _not_multipart() -> BadUpload:
    return BadUpload("not_multipart", "The body must be multipart/form-data with the .nupkg file.")


class LengthRequired(Exception):
    """A chunked body on a server that cannot end it (Django's runserver)."""


class _NupkgHandler(FileUploadHandler):
    """Keeps the first file part only, in a temporary file that vanishes on close."""

    def __init__(self, request, max_size: int):
        super().__init__(request)
        self.max_size = max_size
        self.file = None
        self.size = 0
        self.too_large = False
        self._sha512 = hashlib.sha512()
        self._receiving = False

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.file is not None:
            raise SkipFile
        # Closed by receive()'s caller; the file has no name, so even a crash
        # leaves nothing on disk.
        self.file = tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115
        self._receiving = True

    def receive_data_chunk(self, raw_data, start):
        if not self._receiving:
            return None
        self.size += len(raw_data)
        if self.size > self.max_size:
            self.too_large = True
            raise StopUpload(connection_reset=True)
        self._sha512.update(raw_data)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size):
        self._receiving = False
        return None

    @property
    def sha512(self) -> str:
        # NuGet's own form for package hashes: base64 of the SHA-512 digest.
        return base64.b64encode(self._sha512.digest()).decode("ascii")


def receive(request, max_size: int) -> Upload:
    """The package file from a push, whether the body is chunked or has a length."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise _not_multipart()
    meta = request.META.copy()
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # gunicorn has de-chunked the body and ends the stream at its end
        # (wsgi.input_terminated); Django would read 0 bytes without a
        # Content-Length, so read the stream itself, bounded by the limit.
        stream = request.environ["wsgi.input"]
        meta["CONTENT_LENGTH"] = str(max_size + 1)
    else:
        stream = request
    handler = _NupkgHandler(request, max_size)
    try:
        MultiPartParser(meta, stream, [handler], request.encoding).parse()
    except MultiPartParserError:
        raise _not_multipart() from None
    if handler.too_large:
        if handler.file is not None:
            handler.file.close()
        raise TooLarge
    if handler.file is None or handler.size == 0:
        raise _not_multipart()
    handler.file.seek(0)
    return Upload(file=handler.file, size=handler.size, sha512=handler.sha512)
