"""Illustrative photos for the demo network, drawn with Pillow (nothing downloaded).

Each facility gets four pictures in its own colours: the building under its sky (the
cover), the view around it (sea or mountains), a forest path, and a room (shown with
the facility's first room) or, for a workspace, a desk. They are flat shapes, JPEG at
quality 85, saved through ``facilities.photos.save_photo`` like any upload, so the
resized copies exist too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw

from facilities.models import Facility, FacilityKind
from facilities.photos import save_photo, set_cover, update_photo

SIZE = (1200, 800)  # the drawing's coordinates (3:2)
STORED = (960, 640)  # the picture saved: copies at 480 and 960 wide (quick to seed)
MAX_BYTES = 5 * 1024 * 1024
Colour = tuple[int, int, int]


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _sky(top: Colour, bottom: Colour) -> Image.Image:
    """A vertical gradient, drawn one band at a time (fast, and smooth enough)."""
    image = Image.new("RGB", SIZE, bottom)
    draw = ImageDraw.Draw(image)
    bands = 40
    for i in range(bands):
        y0, y1 = SIZE[1] * i // bands, SIZE[1] * (i + 1) // bands
        draw.rectangle((0, y0, SIZE[0], y1), fill=_mix(top, bottom, i / (bands - 1)))
    return image


def _ridge(draw: ImageDraw.ImageDraw, rng: random.Random, base: int, height: int, fill) -> None:
    width, bottom = SIZE[0], SIZE[1]
    points = [(0, bottom), (0, base)]
    x = 0
    while x < width:
        x += rng.randint(120, 260)
        points.append((min(x, width), base - rng.randint(height // 3, height)))
    points += [(width, base), (width, bottom)]
    draw.polygon(points, fill=fill)


class _Palette:
    def __init__(self, rng: random.Random):
        hue_sky = rng.choice([(92, 150, 214), (120, 170, 220), (236, 150, 110), (150, 120, 190)])
        self.sky = (hue_sky, (246, 226, 196))
        self.land = rng.choice([(58, 96, 72), (74, 104, 66), (88, 90, 110), (66, 84, 96)])
        self.wall = rng.choice([(214, 196, 166), (200, 180, 150), (232, 222, 204), (170, 150, 126)])
        self.roof = rng.choice([(84, 60, 52), (60, 66, 80), (120, 64, 48), (48, 48, 48)])
        self.accent = rng.choice([(196, 82, 60), (60, 120, 170), (210, 170, 60), (90, 150, 110)])


def _exterior(rng: random.Random, p: _Palette) -> Image.Image:
    image = _sky(*p.sky)
    draw = ImageDraw.Draw(image)
    _ridge(draw, rng, 520, 260, _mix(p.land, p.sky[0], 0.5))
    _ridge(draw, rng, 600, 160, p.land)
    left, right, top = 330, 870, 430
    draw.rectangle((left, top, right, 700), fill=p.wall)
    draw.polygon([(left - 60, top), (600, top - 150), (right + 60, top)], fill=p.roof)
    for i in range(5):
        x = left + 40 + i * 100
        draw.rectangle((x, top + 60, x + 60, top + 130), fill=(250, 236, 190))
    draw.rectangle((570, 600, 630, 700), fill=p.accent)
    draw.rectangle((0, 700, SIZE[0], SIZE[1]), fill=_mix(p.land, (0, 0, 0), 0.3))
    return image


def _view(rng: random.Random, p: _Palette, by_the_sea: bool) -> Image.Image:
    image = _sky(*p.sky)
    draw = ImageDraw.Draw(image)
    draw.ellipse((820, 140, 940, 260), fill=(255, 240, 200))
    if by_the_sea:
        draw.rectangle((0, 480, SIZE[0], SIZE[1]), fill=(40, 110, 160))
        for i in range(12):
            y = 500 + i * 25
            x = rng.randint(0, 900)
            draw.line((x, y, x + rng.randint(80, 260), y), fill=(170, 210, 230), width=3)
        draw.polygon([(0, 800), (0, 640), (360, 700), (520, 800)], fill=(222, 204, 160))
    else:
        _ridge(draw, rng, 470, 300, _mix(p.land, (255, 255, 255), 0.35))
        _ridge(draw, rng, 600, 200, p.land)
        _ridge(draw, rng, 720, 120, _mix(p.land, (0, 0, 0), 0.35))
    return image


def _sea_view(rng: random.Random, p: _Palette) -> Image.Image:
    return _view(rng, p, by_the_sea=True)


def _mountain_view(rng: random.Random, p: _Palette) -> Image.Image:
    return _view(rng, p, by_the_sea=False)


def _forest(rng: random.Random, p: _Palette) -> Image.Image:
    image = _sky(_mix(p.sky[0], (255, 255, 255), 0.3), p.sky[1])
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 620, SIZE[0], SIZE[1]), fill=_mix(p.land, (120, 100, 60), 0.4))
    draw.polygon([(520, 800), (680, 800), (620, 620), (590, 620)], fill=(196, 170, 120))
    for layer, shade in ((0, 0.45), (1, 0.2), (2, 0.0)):
        colour = _mix(p.land, (255, 255, 255), shade)
        for _ in range(9):
            x = rng.randint(-40, SIZE[0])
            if 470 < x < 730 and layer == 2:
                continue  # keep the path clear in front
            base = 620 + layer * 60
            h = rng.randint(200, 340)
            draw.polygon([(x - 70, base), (x, base - h), (x + 70, base)], fill=colour)
    return image


def _room(rng: random.Random, p: _Palette) -> Image.Image:
    image = Image.new("RGB", SIZE, p.wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 560, SIZE[0], SIZE[1]), fill=(196, 176, 120))  # tatami
    for x in range(0, SIZE[0], 200):
        draw.line((x, 560, x - 120, SIZE[1]), fill=(170, 150, 100), width=3)
    draw.rectangle((700, 150, 1080, 470), fill=(250, 246, 236))  # shoji window
    for x in range(700, 1081, 95):
        draw.line((x, 150, x, 470), fill=p.roof, width=6)
    for y in range(150, 471, 80):
        draw.line((700, y, 1080, y), fill=p.roof, width=6)
    draw.rectangle((120, 600, 620, 700), fill=(248, 248, 244))  # futon
    draw.rectangle((140, 560, 300, 610), fill=(240, 240, 236))
    draw.rectangle((320, 590, 620, 640), fill=p.accent)
    return image


def _desk(rng: random.Random, p: _Palette) -> Image.Image:
    image = Image.new("RGB", SIZE, p.wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 620, SIZE[0], SIZE[1]), fill=(150, 130, 110))
    draw.rectangle((160, 120, 560, 420), fill=_mix(p.sky[0], (255, 255, 255), 0.3))  # window
    draw.rectangle((220, 480, 1000, 510), fill=(130, 92, 60))  # desk
    draw.rectangle((250, 510, 270, 700), fill=(90, 64, 44))
    draw.rectangle((950, 510, 970, 700), fill=(90, 64, 44))
    draw.rectangle((600, 300, 860, 460), fill=(40, 44, 52))  # screen
    draw.rectangle((615, 315, 845, 445), fill=p.accent)
    draw.rectangle((715, 460, 745, 480), fill=(40, 44, 52))
    draw.ellipse((380, 560, 540, 720), fill=p.roof)  # chair
    return image


def _jpeg(image: Image.Image) -> bytes:
    out = BytesIO()
    image.resize(STORED, reducing_gap=2.0).save(out, "JPEG", quality=85)
    return out.getvalue()


def add_demo_photos(facilities: Iterable[Facility], photo_dir: Path, now: datetime) -> int:
    """Four photos for each facility (the building first, as its cover); flushes only.

    The facilities must be flushed (they need ids). Returns the number of photos added.
    """
    added = 0
    for index, facility in enumerate(facilities):
        rng = random.Random(f"engawa-demo-photos-{index}")
        palette = _Palette(rng)
        by_the_sea = "海" in facility.name_ja + facility.description_ja
        office = facility.kind == FacilityKind.OFFICE.value
        view = "海を望む景色" if by_the_sea else "山並みの眺め"
        inside = (_desk, "ワークスペース") if office else (_room, "客室（和室）")
        pictures: list[tuple[Callable[..., Image.Image], str]] = [
            (_exterior, f"{facility.name_ja}の外観"),
            (_sea_view if by_the_sea else _mountain_view, view),
            (_forest, "近くの森の散歩道"),
            inside,
        ]
        saved = []
        for draw, caption in pictures:
            data = _jpeg(draw(rng, palette))
            photo = save_photo(
                facility, BytesIO(data), "demo.jpg", now, photo_dir, MAX_BYTES, caption=caption
            )
            saved.append(photo)
        set_cover(saved[0])
        if facility.units:
            update_photo(saved[-1], saved[-1].caption, facility.units[0].id)
        added += len(saved)
    return added
