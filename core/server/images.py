"""An image in a request (`image_url`) turned into an `ImagePart`, by the same reader as a dropped file.

The URL is a `data:` URI (decoded by the standard library's own data-URL handler) or, only when
the `serve.allow_remote_images` setting is on, an http(s) address, fetched with a byte cap and a
time limit (it is off by default because it lets any client make this machine fetch any URL,
including ones on its own network). The bytes then go through `core.ingest`, in its bounded
child process with its decompression-bomb limits, so a hostile image costs a 400 and a few
seconds at most, exactly as a dropped file would; only still images are taken. Blocking: call it
off the event loop.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from urllib.error import URLError

from core.ingest import IngestError, Limits, ingest_path
from core.messages import ImagePart, Source

from .errors import bad_request

FETCH_SECONDS = 20.0


def read_image_url(url: str, *, allow_remote: bool, limits: Limits, param: str = "image_url") -> ImagePart:
    """The image at `url` as RGB pixels, or a 400 that says what is wrong with it."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "data":
        data = _data_uri(url, param)
    elif scheme in ("http", "https"):
        if not allow_remote:
            raise bad_request(
                "remote image URLs are refused; send the image as a data: URI, or enable the "
                "serve.allow_remote_images setting",
                param=param,
                code="remote_image_refused",
            )
        data = _fetch(url, limits.image_bytes, param)
    else:
        raise bad_request(f"an image URL must be a data: URI or an http(s) address, not {scheme}:", param=param)
    return _decode(data, limits, param)


def _data_uri(url: str, param: str) -> bytes:
    try:
        with urllib.request.urlopen(urllib.request.Request(url)) as reply:  # noqa: S310 (a data: URI only)
            media = reply.headers.get_content_type()
            data = reply.read()
    except (URLError, ValueError) as err:
        raise bad_request(f"the data: URI cannot be decoded ({err})", param=param) from None
    if not media.startswith("image/"):
        raise bad_request(f"the data: URI holds {media}, not an image", param=param)
    return data


def _fetch(url: str, max_bytes: int, param: str) -> bytes:
    import httpx2

    try:
        with httpx2.stream("GET", url, timeout=FETCH_SECONDS, follow_redirects=True) as reply:
            reply.raise_for_status()
            chunks, size = [], 0
            for chunk in reply.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise bad_request(f"the image at {url} has more than {max_bytes:,} bytes", param=param)
                chunks.append(chunk)
    except httpx2.HTTPError as err:
        raise bad_request(f"the image at {url} cannot be fetched ({err})", param=param) from None
    return b"".join(chunks)


def _decode(data: bytes, limits: Limits, param: str) -> ImagePart:
    if len(data) > limits.image_bytes:
        raise bad_request(f"the image has {len(data):,} bytes, above the limit of {limits.image_bytes:,}", param=param)
    fd, path = tempfile.mkstemp(prefix="spyglass-serve-", suffix=".img")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        ingested = ingest_path(path, limits=limits)
    except IngestError as err:
        raise bad_request(f"the image cannot be read: {err.problem}", param=param) from None
    finally:
        os.unlink(path)
    if ingested.kind != "image":
        raise bad_request(f"an image_url must hold an image, not a {ingested.kind}", param=param)
    (part,) = ingested.parts
    return ImagePart(part.pixels, Source("file"))


def read_images(urls: list[str], *, allow_remote: bool, limits: Limits | None = None) -> list[ImagePart]:
    """Every image of a request, in order; the first bad one is a 400 naming it."""
    limits = limits or Limits()
    return [
        read_image_url(url, allow_remote=allow_remote, limits=limits, param=f"image_url[{i}]")
        for i, url in enumerate(urls)
    ]
