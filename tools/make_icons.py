"""Draw static/favicon.svg's picture (a roof over a veranda's boards) as the PNG app icons in
static/icons (run once after changing the design: `.venv/bin/python tools/make_icons.py`)."""

from pathlib import Path

from PIL import Image, ImageDraw

PAPER, DARK, WOOD = "#faf7f0", "#6d4520", "#8a5a2b"


def icon(size, rounded=True, pad=0.0):
    k = 8  # draw 8× larger, then shrink: smooth edges
    S = size * k
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    u = S / 32
    if rounded:
        d.rounded_rectangle([0, 0, S - 1, S - 1], radius=6 * u, fill=PAPER)
    else:
        d.rectangle([0, 0, S, S], fill=PAPER)
    # inner drawing, optionally shrunk into a safe zone (apple-touch / maskable)
    s = 1 - 2 * pad
    o = pad * S

    def P(x, y):
        return (o + x * u * s, o + y * u * s)

    d.polygon([P(3, 13), P(16, 5), P(29, 13)], fill=DARK)
    d.rectangle([*P(6, 13), *P(8.5, 24)], fill=WOOD)
    d.rectangle([*P(23.5, 13), *P(26, 24)], fill=WOOD)
    d.rounded_rectangle([*P(3, 24), *P(29, 27)], radius=1 * u * s, fill=DARK)
    return img.resize((size, size), Image.LANCZOS)


out = str(Path(__file__).resolve().parent.parent / "static" / "icons") + "/"
icon(32).save(out + "icon-32.png", optimize=True)
icon(180, rounded=False, pad=0.08).convert("RGB").save(out + "apple-touch-icon.png", optimize=True)
icon(192).save(out + "icon-192.png", optimize=True)
icon(512).save(out + "icon-512.png", optimize=True)
icon(512, rounded=False, pad=0.12).save(out + "icon-maskable-512.png", optimize=True)
