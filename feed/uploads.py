"""Receiving a pushed .nupkg: a multipart body streamed to an anonymous temporary file.

Memory stays flat whatever the package size: parts are written as they
arrive, and the SHA-512 and size are taken on the way.
"""

import base64
import hashlib
import tempfile

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.http import parse_header_parameters

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
    """Keeps the one file part in a temporary file that vanishes on close; a second
    file part stops the upload."""

    def __init__(self, request, max_size: int):
        super().__init__(request)
        self.max_size = max_size
        self.file = None
        self.size = 0
        self.too_large = False
        self.several_files = False
        self._sha512 = hashlib.sha512()
        self._receiving = False

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.file is not None:
            # Which part would be the package? Refuse rather than guess. (SkipFile
            # would not do: the parser then closes every handler's ``file``.)
            self.several_files = True
            raise StopUpload(connection_reset=True)
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


class _Body:
    """The request body as the parser reads it.

    A failure to read it (the client went away mid-body, or sent a bad chunk)
    becomes BadUpload; the servers' own errors for it differ (gunicorn raises
    NoMoreData, InvalidChunkSize...), so any exception from ``read`` counts. On
    the way it watches for the closing delimiter, which Django's parser does not
    require: without it the body was cut short, or its boundary is not the one
    the header names, and the last part would run to the end of the body.
    """

    def __init__(self, stream, boundary: bytes):
        self._stream = stream
        # A line break, then "--boundary--". Usually CRLF, but NuGet 2.8 ends the
        # last part with a bare LF, which Django's parser accepts too.
        self._close = b"\n--" + boundary + b"--"
        self._tail = b""
        self.closed = False

    def read(self, size=-1):
        try:
            data = self._stream.read(size)
        except Exception as error:
            raise BadUpload("bad_body", "The request body is incomplete or malformed.") from error
        if data and not self.closed:
            seen = self._tail + data
            self.closed = self._close in seen
            self._tail = seen[-len(self._close) :]
        return data


def receive(request, max_size: int) -> Upload:
    """The package file from a push, whether the body is chunked or has a length."""
    content_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    boundary = params.get("boundary", "")
    if content_type.lower() != "multipart/form-data" or not boundary:
        raise _not_multipart()
    meta = request.META.copy()
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        if not request.environ.get("wsgi.input_terminated"):
            raise LengthRequired
        # gunicorn has de-chunked the body and ends the stream at its end
        # (wsgi.input_terminated); Django would read 0 bytes without a
        # Content-Length, so read the stream itself, bounded by the limit.
        stream = request.environ["wsgi.input"]
        meta["CONTENT_LENGTH"] = str(max_size + 1)
    else:
        stream = request
    body = _Body(stream, boundary.encode("ascii", "replace"))
    handler = _NupkgHandler(request, max_size)
    try:
        MultiPartParser(meta, body, [handler], request.encoding).parse()
    except MultiPartParserError:
        raise _not_multipart() from None
    except BadUpload:
        _discard(handler)
        raise
    if handler.too_large:
        _discard(handler)
        raise TooLarge
    if handler.several_files:
        _discard(handler)
        raise BadUpload("several_files", "The body must hold one package file, not several.")
    if handler.file is None or handler.size == 0:
        raise _not_multipart()
    if not body.closed:
        _discard(handler)
        raise BadUpload(
            "unterminated_body",
            "The multipart body does not end with the boundary its Content-Type names.",
        )
    handler.file.seek(0)
    return Upload(file=handler.file, size=handler.size, sha512=handler.sha512)


def _discard(handler: _NupkgHandler) -> None:
    if handler.file is not None:
        handler.file.close()
