"""Generated media for tests."""

from __future__ import annotations


def make_image(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (480, 360)) -> bytes:
    """A photo-like test image (gradients, shapes, texture) that differs per seed."""
    import io
    import random

    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img = Image.merge(
        "RGB", [c.point(lambda v, k=rnd.random(): int(v * k + 255 * (1 - k) * rnd.random())) for c in img.split()]
    )
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rnd.randrange(w), rnd.randrange(h)
        r = rnd.randrange(15, max(16, w // 3))
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            d.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()
