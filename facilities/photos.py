"""A facility's photos: the files (judged by their bytes, resized at upload) and the rows.

An upload is stored as it came (``<hex>.jpg``, ``.png`` or ``.webp``, a random name)
beside WebP copies at the widths a page asks for (``<hex>-480.webp``, ``-960``,
``-1600``): never wider than the original, turned upright by the EXIF orientation,
without the camera's metadata (EXIF, XMP: a photo's place and time). Pages show the
copies (``srcset``, the largest as ``src``); a copy is served to whoever may see the
facility's photos, the original only to the facility's own operator (``visible_file``).
Photos stored before copies were made get theirs from ``flask photos make-copies``
(``make_copies``); until then their original stands in.

The operator orders the photos (``position``, ascending), picks one cover (the first
by position stands in when none is picked), writes captions and says which room a
photo shows. Services flush, never commit; files are written after their row is
flushed and removed after the row's deletion is committed (``discard_photo_file``).
"""

from __future__ import annotations

import re
import secrets
import warnings
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from accounts.models import User
from core.db import in_id_range
from core.errors import RuleError
from core.extensions import db
from facilities.models import Facility, FacilityPhoto, Unit

# What browsers show everywhere, identified by their bytes, never their name.
PHOTO_TYPES = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
# Pillow warns above this many pixels and refuses at twice as many; photos never
# need more, and the check below refuses anything between as well.
MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel camera; more is a decompression bomb
MAX_PHOTOS_PER_FACILITY = 30
MAX_CAPTION = 200
# The resized copies: a phone's card, a phone's gallery or a laptop's card, a laptop's
# gallery on a sharp screen. A narrower original gets one copy at its own width instead
# of those it cannot fill.
COPY_WIDTHS = (480, 960, 1600)
COPY_TYPE = "image/webp"
WEBP_QUALITY = 80
WEBP_METHOD = 4  # Pillow's default: the balance of size and encoding time
# Orientations (EXIF 274) that turn the picture a quarter: width and height swap.
_QUARTER_TURNS = {5, 6, 7, 8}
_ORIENTATION = 0x0112

_ORIGINAL = re.compile(r"([0-9a-f]{32})\.(jpg|png|webp)")
_COPY = re.compile(r"([0-9a-f]{32})-([1-9][0-9]{0,4})\.webp")


class PhotoError(RuleError):
    """An upload or a change to a photo refused; the message is for the operator."""


# --- judging and resizing the bytes ----------------------------------------------------------


def _not_an_image() -> PhotoError:
    return PhotoError(
        _l("This file is not a JPEG, PNG or WebP image, or it is damaged."), "not_image"
    )


def _too_many_pixels() -> PhotoError:
    return PhotoError(_l("This image has too many pixels."), "too_many_pixels")


def _identify(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an accepted image, judged by its content alone."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns over its own pixel limit (below twice it): refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                image_format, (width, height) = image.format, image.size
                if width < 1 or height < 1 or width * height > MAX_PHOTO_PIXELS:
                    raise _too_many_pixels()
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise _not_an_image() from None
    if image_format not in PHOTO_TYPES:
        raise PhotoError(_l("Upload a JPEG, PNG or WebP image."), "type")
    return image_format, width, height


def copy_widths(width: int) -> list[int]:
    """The widths of the copies of a picture ``width`` pixels wide: never wider than it."""
    return sorted({min(target, width) for target in COPY_WIDTHS})


def _copies(data: bytes, width: int, height: int) -> tuple[int, int, dict[int, bytes]]:
    """The picture's width and height as shown (upright by its EXIF orientation) and
    its WebP copies by width: upright, without metadata (the colour profile is kept)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                if image.getexif().get(_ORIENTATION) in _QUARTER_TURNS:
                    width, height = height, width
                widths = copy_widths(width)
                # A JPEG decodes at a reduced scale still at least as large as needed.
                image.draft("RGB", (widths[-1], widths[-1]))
                icc_profile = image.info.get("icc_profile")
                upright = ImageOps.exif_transpose(image)
                upright.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError):
        # verify() reads the structure only: a truncated picture fails here, decoded.
        raise _not_an_image() from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    upright = upright.convert("RGBA" if has_alpha else "RGB")
    copies = {}
    for target in reversed(widths):
        size = (target, max(1, round(height * target / width)))
        resized = upright if upright.size == size else upright.resize(size, reducing_gap=3.0)
        out = BytesIO()
        resized.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, icc_profile=icc_profile)
        copies[target] = out.getvalue()
    return width, height, dict(sorted(copies.items()))


def copy_name(filename: str, width: int) -> str:
    """The stored name of the copy ``width`` pixels wide of the original ``filename``."""
    return f"{Path(filename).stem}-{width}.webp"


def photo_copies(photo: FacilityPhoto) -> list[tuple[int, str]]:
    """(width, stored name) of each resized copy of ``photo``, narrowest first."""
    widths = sorted(int(w) for w in photo.widths.split(",") if w.isdigit())
    return [(w, copy_name(photo.filename, w)) for w in widths]


# --- files on disk -----------------------------------------------------------------------------


def photo_dir(instance_path: str) -> Path:
    """Where photos are stored: ``instance/photos``."""
    return Path(instance_path) / "photos"


def _write_new_file(photo_dir: Path, name: str, data: bytes) -> None:
    """Write a file that must not exist yet; on any failure, nothing is left behind."""
    photo_dir.mkdir(parents=True, exist_ok=True)
    path = photo_dir / name
    with open(path, "xb") as out:  # "x": never overwrite another photo's file
        try:
            out.write(data)
        except BaseException:
            out.close()
            path.unlink(missing_ok=True)
            raise


def _write_files(photo_dir: Path, files: dict[str, bytes]) -> None:
    """Write every file or none: a failure part-way removes those already written."""
    written: list[str] = []
    try:
        for name, data in files.items():
            _write_new_file(photo_dir, name, data)
            written.append(name)
    except BaseException:
        for name in written:
            (photo_dir / name).unlink(missing_ok=True)
        raise


def discard_photo_file(photo_dir: Path, filename: str) -> None:
    """Remove a stored photo and its resized copies; files already gone are fine."""
    name = Path(filename).name
    (photo_dir / name).unlink(missing_ok=True)
    match = _ORIGINAL.fullmatch(name)
    if match and photo_dir.is_dir():
        for copy in photo_dir.glob(f"{match[1]}-*.webp"):
            if _COPY.fullmatch(copy.name):
                copy.unlink(missing_ok=True)


# --- the rows ------------------------------------------------------------------------------------


def _lock_facility(facility_id: int) -> None:
    """Serialise changes to one facility's photos (count, order, cover)."""
    db.session.execute(select(Facility.id).where(Facility.id == facility_id).with_for_update())


def save_photo(
    facility: Facility,
    stream: BinaryIO,
    filename: str,
    now: datetime,
    photo_dir: Path,
    max_bytes: int,
    caption: str = "",
) -> FacilityPhoto:
    """Store an uploaded photo under a random name in ``photo_dir``, with its copies.

    At most ``max_bytes`` are read; the type comes from the bytes (JPEG, PNG or
    WebP), never from ``filename``, which is not stored. The picture is decoded and
    resized before anything is written, so a damaged file is refused whole. The row
    (last in the order) is flushed first and the files written after it, so a refused
    row leaves no file; a failed write removes what it wrote. If the transaction then
    fails, the caller removes the files (``discard_photo_file``).
    """
    _lock_facility(facility.id)
    count, last = db.session.execute(
        select(func.count(), func.max(FacilityPhoto.position)).where(
            FacilityPhoto.facility_id == facility.id
        )
    ).one()
    if count >= MAX_PHOTOS_PER_FACILITY:
        raise PhotoError(
            _l("A facility can have at most %(n)d photos.", n=MAX_PHOTOS_PER_FACILITY), "too_many"
        )
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PhotoError(photo_too_big(max_bytes), "too_big")
    if not data:
        raise PhotoError(_l("The file is empty."), "empty")
    image_format, width, height = _identify(data)
    width, height, copies = _copies(data, width, height)
    extension, content_type = PHOTO_TYPES[image_format]

    stored_name = f"{secrets.token_hex(16)}.{extension}"
    photo = FacilityPhoto(
        facility_id=facility.id,
        filename=stored_name,
        content_type=content_type,
        size=len(data),
        width=width,
        height=height,
        caption=caption.strip()[:MAX_CAPTION],
        created_at=now,
        position=0 if last is None else last + 1,
        is_cover=False,
        widths=",".join(str(w) for w in copies),
    )
    db.session.add(photo)
    db.session.flush()
    files = {stored_name: data} | {copy_name(stored_name, w): b for w, b in copies.items()}
    _write_files(photo_dir, files)
    return photo


def delete_photo(photo: FacilityPhoto) -> str:
    """Delete the photo's row; returns the stored name whose files go after the commit."""
    filename = photo.filename
    db.session.delete(photo)
    db.session.flush()
    return filename


def _ordered(facility_id: int) -> list[FacilityPhoto]:
    return list(
        db.session.scalars(
            select(FacilityPhoto)
            .where(FacilityPhoto.facility_id == facility_id)
            .order_by(FacilityPhoto.position, FacilityPhoto.id)
        )
    )


def move_photo(photo: FacilityPhoto, step: int) -> bool:
    """Move a photo one place earlier (``step`` -1) or later (+1) in its facility's order.

    Positions are renumbered 0, 1, 2… on the way. Returns False at either end.
    """
    _lock_facility(photo.facility_id)
    photos = _ordered(photo.facility_id)
    here = photos.index(photo)
    there = here + (1 if step > 0 else -1)
    if not 0 <= there < len(photos):
        return False
    photos[here], photos[there] = photos[there], photos[here]
    for position, each in enumerate(photos):
        each.position = position
    db.session.flush()
    return True


def set_cover(photo: FacilityPhoto) -> None:
    """Make ``photo`` its facility's one cover (the previous one stops being it)."""
    _lock_facility(photo.facility_id)
    db.session.execute(
        update(FacilityPhoto)
        .where(FacilityPhoto.facility_id == photo.facility_id, FacilityPhoto.id != photo.id)
        .values(is_cover=False)
        .execution_options(synchronize_session="fetch")
    )
    photo.is_cover = True
    db.session.flush()


def update_photo(photo: FacilityPhoto, caption: str, unit_id: int | None) -> None:
    """A photo's caption and the room it shows (None: the facility as a whole).

    The room must belong to the photo's facility: any other id is refused.
    """
    if unit_id is not None:
        unit = db.session.get(Unit, unit_id) if in_id_range(unit_id) else None
        if unit is None or unit.facility_id != photo.facility_id:
            raise PhotoError(_l("Choose a room of this facility."), "unit")
    photo.caption = caption.strip()[:MAX_CAPTION]
    photo.unit_id = unit_id
    db.session.flush()


# --- copies for photos stored before copies were made ----------------------------------------


def lacks_copies(photo: FacilityPhoto, photo_dir: Path) -> bool:
    """Whether the photo has no copies listed (stored before they were made) or a listed
    copy is missing on disk."""
    copies = photo_copies(photo)
    return not copies or any(not (photo_dir / name).is_file() for _width, name in copies)


def make_copies(photo: FacilityPhoto, photo_dir: Path) -> list[str]:
    """Make a stored photo's missing resized copies from its original; flushes.

    The copies are made as at upload (upright, without metadata), the photo's width and
    height become those shown (upright) and its copies are listed, so pages stop
    showing the original. Copies already on disk for a listed width are kept; for a
    photo that listed none, a file under a copy's name can only be left by an
    interrupted earlier run, and is replaced. Returns the names written, for the caller
    to remove if the transaction then fails. Raises ``PhotoError`` when the original is
    no longer a picture it would accept, and ``FileNotFoundError`` when it is gone.
    """
    data = (photo_dir / photo.filename).read_bytes()
    _image_format, width, height = _identify(data)
    width, height, copies = _copies(data, width, height)
    listed = dict(photo_copies(photo))
    files = {}
    for copy_width, copy in copies.items():
        name = copy_name(photo.filename, copy_width)
        if copy_width in listed and (photo_dir / name).is_file():
            continue
        (photo_dir / name).unlink(missing_ok=True)
        files[name] = copy
    _write_files(photo_dir, files)
    photo.width, photo.height = width, height
    photo.widths = ",".join(str(w) for w in copies)
    db.session.flush()
    return list(files)


def photo_mb(max_bytes: int) -> int:
    return max(1, max_bytes // (1024 * 1024))


def photo_too_big(max_bytes: int):
    return _l("Photos can be at most %(mb)d MB.", mb=photo_mb(max_bytes))


# --- reading -----------------------------------------------------------------------------------


def operator_photo(actor: User, photo_id: int) -> FacilityPhoto | None:
    """The photo if the actor's organisation runs its facility; None otherwise."""
    if not actor.runs_facilities or not in_id_range(photo_id):
        return None
    return db.session.scalar(
        select(FacilityPhoto)
        .join(Facility, Facility.id == FacilityPhoto.facility_id)
        .where(FacilityPhoto.id == photo_id, Facility.operator_id == actor.operator_id)
        .options(joinedload(FacilityPhoto.facility))
    )


def _owns(actor: User, photo: FacilityPhoto) -> bool:
    return actor.runs_facilities and photo.facility.operator_id == actor.operator_id


def _may_see(actor: User, photo: FacilityPhoto) -> bool:
    return _owns(actor, photo) or photo.facility.listed


def visible_photo(actor: User, filename: str) -> FacilityPhoto | None:
    """A stored photo the actor may see: any of their own, or one of an open facility."""
    photo = db.session.scalar(
        select(FacilityPhoto)
        .where(FacilityPhoto.filename == filename)
        .options(joinedload(FacilityPhoto.facility))
    )
    return photo if photo is not None and _may_see(actor, photo) else None


def visible_file(actor: User, name: str) -> str | None:
    """The content type of the stored file ``name`` (an original or a resized copy) if
    the actor may see it; None for any other name.

    An original is kept as uploaded, so it may carry the camera's metadata (EXIF GPS:
    where it was taken). Only the photo's own operator gets it; everybody else sees the
    copies, which carry none. A photo stored before copies were made (none listed)
    still shows its original to those who may see it, until ``flask photos
    make-copies`` makes them.
    """
    if _ORIGINAL.fullmatch(name):
        photo = visible_photo(actor, name)
        if photo is None or (photo_copies(photo) and not _owns(actor, photo)):
            return None
        return photo.content_type
    copy = _COPY.fullmatch(name)
    if copy is None:
        return None
    stem, width = copy[1], int(copy[2])
    photo = db.session.scalar(
        select(FacilityPhoto)
        .where(FacilityPhoto.filename.in_([f"{stem}.{ext}" for ext, _t in PHOTO_TYPES.values()]))
        .options(joinedload(FacilityPhoto.facility))
    )
    if photo is None or width not in dict(photo_copies(photo)) or not _may_see(actor, photo):
        return None
    return COPY_TYPE


def facility_photos(facility: Facility, limit: int | None = None) -> list[FacilityPhoto]:
    """The facility's photos in the operator's order (rooms' photos included)."""
    return list(
        db.session.scalars(
            select(FacilityPhoto)
            .where(FacilityPhoto.facility_id == facility.id)
            .order_by(FacilityPhoto.position, FacilityPhoto.id)
            .limit(limit)
        )
    )


def cover_photos(facility_ids) -> dict[int, FacilityPhoto]:
    """Each facility's cover, in one query: the one picked, else the first by position.

    Facilities without photos are absent from the answer.
    """
    ids = list(facility_ids)
    if not ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=FacilityPhoto.facility_id,
            order_by=(FacilityPhoto.is_cover.desc(), FacilityPhoto.position, FacilityPhoto.id),
        )
        .label("rank")
    )
    ranked = select(FacilityPhoto.id, rank).where(FacilityPhoto.facility_id.in_(ids)).subquery()
    covers = db.session.scalars(
        select(FacilityPhoto)
        .join(ranked, ranked.c.id == FacilityPhoto.id)
        .where(ranked.c.rank == 1)
    )
    return {photo.facility_id: photo for photo in covers}
