"""Insurance card images: only pixels are kept.

An upload is decoded with Pillow (JPEG, PNG or WebP, at most MAX_BYTES and MAX_PIXELS so a
decompression bomb is refused before it is decoded), rotated upright by its EXIF
orientation, scaled down to at most MAX_SIDE pixels on the long side, and re-encoded as a
new baseline JPEG from the pixel data alone: EXIF (GPS position, device, time), XMP, ICC
profiles, comments and anything appended after the image are gone, and a file that only
pretends to be an image fails to decode. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

MAX_BYTES: Final = 4 * 1024 * 1024
MAX_PIXELS: Final = 40_000_000  # decoded size limit (a 4 MiB file can claim far more)
MAX_SIDE: Final = 2000
ALLOWED_FORMATS: Final = frozenset({"JPEG", "PNG", "WEBP"})
JPEG_QUALITY: Final = 85


class CardImageRuleError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CleanImage:
    data: bytes  # JPEG
    width: int
    height: int


def clean_card_image(raw: bytes) -> CleanImage:
    from PIL import Image, ImageOps  # first use only: keeps Pillow off every cold start

    if not raw:
        raise CardImageRuleError("empty")
    if len(raw) > MAX_BYTES:
        raise CardImageRuleError("too_large")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise CardImageRuleError("not_an_allowed_image")
            width, height = probe.size
            if width * height > MAX_PIXELS or width < 50 or height < 50:
                raise CardImageRuleError("bad_dimensions")
            probe.load()
            image = ImageOps.exif_transpose(probe) or probe
            image = image.convert("RGB")
    except CardImageRuleError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise CardImageRuleError("not_an_allowed_image") from exc
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    # A fresh image holding only the pixels: nothing of the upload's metadata can follow.
    pixels = Image.new("RGB", image.size)
    pixels.paste(image)
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return CleanImage(out.getvalue(), pixels.width, pixels.height)
