"""The image of a passport's photo page, judged before it is sealed into the register.

Judged by its bytes alone, as facility photos are (``facilities.photos``: JPEG, PNG or
WebP, the pixels capped against decompression bombs), and capped in size. The image is
kept as it came: the register is a copy of the document (旅館業法施行規則), sealed at
rest and served only to the booker and the facility's operator.
"""

from __future__ import annotations

from typing import BinaryIO

from flask_babel import lazy_gettext as _l

from core.errors import RuleError
from facilities import photos

MAX_PASSPORT_BYTES = 8 * 1024 * 1024  # a phone's photo of one page, with room to spare
MAX_PASSPORT_PIXELS = photos.MAX_PHOTO_PIXELS
PASSPORT_TYPES = {fmt: content_type for fmt, (_ext, content_type) in photos.PHOTO_TYPES.items()}


class PassportImageError(RuleError):
    """An image of a passport refused; the message is for the person uploading it."""


def passport_mb() -> int:
    return MAX_PASSPORT_BYTES // (1024 * 1024)


def too_big() -> PassportImageError:
    return PassportImageError(
        _l("The passport image can be at most %(mb)d MB.", mb=passport_mb()), "too_big"
    )


def read_upload(stream: BinaryIO) -> bytes:
    """The upload's bytes, refused once past the size cap (never read further)."""
    data = stream.read(MAX_PASSPORT_BYTES + 1)
    if len(data) > MAX_PASSPORT_BYTES:
        raise too_big()
    return data


def check_passport_image(data: bytes) -> str:
    """The content type of an acceptable image of a passport page; else
    ``PassportImageError`` saying why (empty, too big, not an image, too many pixels)."""
    if not data:
        raise PassportImageError(_l("The passport image file is empty."), "empty")
    if len(data) > MAX_PASSPORT_BYTES:
        raise too_big()
    try:
        image_format, _width, _height = photos._identify(data)
    except photos.PhotoError as refused:
        if refused.code == "too_many_pixels":
            message = _l("The passport image has too many pixels.")
        else:
            message = _l("Upload the passport's photo page as a JPEG, PNG or WebP image.")
        raise PassportImageError(message, refused.code) from None
    return PASSPORT_TYPES[image_format]
