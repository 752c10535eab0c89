"""Inputs and outputs named by fsspec URLs (``s3://``, ``gs://``, ``az://``, ``memory://``,
``file://``): finding them (globs, ``-r``), reading their bytes, listing an output prefix
once, and writing an object whole or not at all.

An object is written in one put of bytes already encoded in memory (S3 and the other
object stores commit an object whole, even one sent in parts), so an error, a killed
worker or Ctrl-C never leaves a partial object. ``file://`` URLs become plain paths
(:func:`local_path`), so they keep the local atomic write (a temporary file renamed into
place) and read exactly as paths do.

Credentials come from fsspec's usual places (environment, profiles, config files), never
from the command line; messages name URLs only. A store's failure the user can fix (no
credentials, a profile not found, an endpoint not reachable, an object missing) is one
Error line naming the URL; only a bug in convcli is an internal error.

fsspec (and s3fs, gcsfs, adlfs) are imported only when a URL is used: ``convcli shape``
and ``--help`` never load them. This module itself imports only the standard library.
"""

from __future__ import annotations

import contextlib
import functools
import io
import posixpath
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from convcli import _signals
from convcli.errors import ConvcliError, OutputExistsError, SpecError

__all__ = [
    "canonical",
    "check_urls",
    "existing_objects",
    "exists",
    "find_objects",
    "is_url",
    "join",
    "local_path",
    "object_output",
    "packages",
    "read_bytes",
    "shared_by_processes",
]

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")

#: The extra (``pip install 'convcli[NAME]'``) and the package behind a protocol.
_EXTRAS = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("azure", "adlfs"),
    "abfs": ("azure", "adlfs"),
    "abfss": ("azure", "adlfs"),
}

_GLOB = re.compile(r"[*?\[]")


def is_url(text: str | object) -> bool:
    """Whether ``text`` is a URL with a protocol (``s3://bucket/x.png``), not a path.

    Examples
    --------
    >>> is_url("s3://bucket/raw/"), is_url("photos/a.png"), is_url("C:/a.png")
    (True, False, False)
    """
    return isinstance(text, str) and _URL.match(text) is not None


def protocol(url: str) -> str:
    """``"s3"`` for ``s3://bucket/x``, ``""`` for a path."""
    match = _URL.match(url)
    return match.group(1).lower() if match else ""


def local_path(url: str, option: str = "INPUT") -> str:
    """A ``file://`` URL as a path; anything else unchanged.

    As RFC 8089 reads it: ``file:///x`` and ``file://localhost/x`` are the path ``/x`` of
    this machine, percent-decoded; a URL naming another host, or no path, is a
    :class:`SpecError` naming ``option`` (fsspec read ``file://localhost/x`` as the
    relative path ``localhost/x``, and an empty path became ``/``).

    Examples
    --------
    >>> local_path("file:///tmp/a.png"), local_path("file://localhost/tmp/a.png")
    ('/tmp/a.png', '/tmp/a.png')
    >>> local_path("s3://b/a.png"), local_path("file:///tmp/a%20b.png")
    ('s3://b/a.png', '/tmp/a b.png')
    """
    if protocol(url) != "file":
        return url
    host, slash, path = url[len("file://") :].partition("/")
    if host and host.lower() != "localhost":
        raise SpecError(
            f"{option} '{url}': file:// names a file on host '{host}', not on this machine; "
            "give file:///PATH, file://localhost/PATH or the path"
        )
    if not slash:  # file:// or file://localhost: a host without a path
        raise SpecError(f"{option} '{url}' names no path; give file:///PATH or the path")
    from urllib.parse import unquote

    return unquote(slash + path)  # a space is %20 in a URL (Path.as_uri writes it so)


def shared_by_processes(url: str) -> bool:
    """False for ``memory://``: it lives in one process, so other processes (a worker
    pool, Dask workers) cannot see what is written there."""
    return protocol(url) != "memory"


def join(prefix: str, relative: str) -> str:
    """An object's URL under a prefix (``s3://b/out`` + ``a/x.png``; ``memory://`` +
    ``x.png`` is ``memory://x.png``, not ``memory:/x.png``, a local path)."""
    if prefix.endswith("://"):
        return prefix + relative
    return prefix.rstrip("/") + "/" + relative


def _filesystem(url: str, option: str = "") -> tuple[Any, str]:
    """(fsspec file system, path inside it) for a URL, or one Error naming the extra (or,
    for an unknown protocol or a whole store without a bucket, the ``option`` that gave the
    URL: ``INPUT``, ``-o/--output``)."""
    name = protocol(url)
    authority = url.partition("://")[2].partition("/")[0]
    if "@" in authority:  # s3://KEY:SECRET@bucket/...: never echoed, never taken
        given = f"{option} " if option else ""
        raise SpecError(
            f"{given}'{name}://...@{authority.rpartition('@')[2]}/...': credentials are not "
            "taken from a URL; set them in the environment or a profile"
        )
    if name == "file":  # fsspec reads file://localhost/x as the relative path localhost/x
        url = "file://" + local_path(url, option or "INPUT")
    extra, package = _EXTRAS.get(name, ("", ""))
    if extra and option and not url.partition("://")[2].strip("/"):  # s3://: the whole store
        bucket = "container" if extra == "azure" else "bucket"
        raise SpecError(f"{option} '{url}' names no {bucket}; give {name}://{bucket.upper()}/...")
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        extra = extra or "storage"
        raise ConvcliError(
            f"'{name}://' URLs need fsspec: pip install 'convcli[{extra}]'"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError:
        what = f"{package}: pip install 'convcli[{extra}]'" if extra else "its fsspec package"
        raise ConvcliError(f"'{name}://' URLs need {what}") from None
    except ValueError as error:  # an unknown protocol
        given = f"{option} '{url}'" if option else f"'{url}'"
        raise ConvcliError(f"{given}: {_reason(error)}") from None


#: Where botocore (under s3fs) looks for credentials, for the Error when it found none.
_NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or AWS_PROFILE for a profile in ~/.aws/credentials)"
)


def _failures() -> tuple[type[BaseException], ...]:
    """The errors of a store's call that are the user's to fix, not convcli's bugs.

    fsspec and s3fs raise OSError (and ValueError) for most failures, but s3fs lets
    botocore's own errors through: no credentials, a partial or failing credential source,
    an unknown profile, an endpoint it cannot reach (each would otherwise be an "internal
    error"). They are only looked up if botocore is already loaded (s3fs loads it before any
    such error); this module never imports it.
    """
    boto = sys.modules.get("botocore.exceptions")
    if boto is None:
        return (OSError, ValueError)
    return (
        OSError,
        ValueError,
        boto.NoCredentialsError,
        boto.PartialCredentialsError,
        boto.CredentialRetrievalError,
        boto.ProfileNotFound,
        boto.ParamValidationError,  # an invalid bucket name (s3://b!kt/x.png)
        boto.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError...
        boto.HTTPClientError,  # ReadTimeoutError, ConnectionClosedError...
    )


def _reason(error: BaseException) -> str:
    """One line for a storage error, never with credentials (only the error's own text,
    which for S3 is the service's code and message, or botocore's about where it looked)."""
    if any(kind.__name__ == "NoCredentialsError" for kind in type(error).__mro__):
        return _NO_CREDENTIALS
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


def _url(fs: Any, path: str) -> str:
    """A path of ``fs`` back as a URL (``memory://`` paths start with ``/``)."""
    return fs.unstrip_protocol(path)  # type: ignore[no-any-return]


def read_bytes(url: str) -> bytes:
    """The whole content of an object.

    Raises
    ------
    ConvcliError
        Missing, not readable, or the store failed; one line naming the URL.
    """
    fs, path = _filesystem(url, "INPUT")
    try:
        return fs.cat_file(path)  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise ConvcliError(f"{url}: no such object") from None
    except _failures() as error:
        raise ConvcliError(f"{url}: cannot read: {_reason(error)}") from None


def exists(url: str) -> bool:
    """Whether an object, or a folder (a prefix objects are under), is at ``url``.

    Raises
    ------
    ConvcliError
        The store failed; one line naming the URL.
    """
    fs, path = _filesystem(url, "INPUT")
    try:
        return bool(fs.exists(path))
    except _failures() as error:
        raise ConvcliError(f"{url}: cannot reach: {_reason(error)}") from None


@contextlib.contextmanager
def object_output(url: str, *, force: bool = False) -> Iterator[io.BytesIO]:
    """Write an object whole or not at all: yield a buffer, put its bytes in one call at
    the end (nothing is sent if the body raises).

    Without ``force`` an existing object is :class:`OutputExistsError`: on S3 the put
    itself is conditional (``If-None-Match: *``, no extra request, no race); on other
    stores it is checked just before the put (two runs writing the same object at the
    same moment may then both write; the last put wins, whole).
    """
    # A batch's outputs are under a -O prefix already opened by plan_batch (canonical), so
    # only -o can name a store this fails to open.
    fs, path = _filesystem(url, "-o/--output")
    buffer = io.BytesIO()
    yield buffer
    _signals.checkpoint()  # a signal whose Interrupted vanished: not put
    options: dict[str, str] = {}
    try:
        if not force and protocol(url) in ("s3", "s3a"):
            options["IfNoneMatch"] = "*"
        elif not force and fs.exists(path):
            raise FileExistsError(path)
        fs.pipe_file(path, buffer.getvalue(), **options)
    except FileExistsError:
        raise OutputExistsError(f"output '{url}' exists; use --force to overwrite it") from None
    except _failures() as error:
        raise ConvcliError(f"{url}: cannot write: {_reason(error)}") from None


def existing_objects(prefix: str) -> set[str]:
    """Every object's URL under ``prefix``, in one listing (for ``--skip-existing`` on a
    million outputs: one request per thousand keys on S3, not one per file)."""
    fs, path = _filesystem(prefix, "-O/--out-dir")
    fs.invalidate_cache(path)  # a listing cached by an earlier call in this process
    try:
        found = fs.find(path)
    except FileNotFoundError:
        return set()
    except _failures() as error:
        raise ConvcliError(f"{prefix}: cannot list: {_reason(error)}") from None
    return {_url(fs, name) for name in found}


def check_prefix(prefix: str) -> None:
    """One cheap request under ``prefix`` (an exists check), for a batch that will write
    there without listing it first (``--force``): no credentials, an unknown bucket's
    endpoint or a refused connection then fail once, before any work, not once per file.

    Parameters
    ----------
    prefix : str
        The ``-O`` URL.
    """
    fs, path = _filesystem(prefix, "-O/--out-dir")
    try:
        fs.exists(path)
    except _failures() as error:
        raise ConvcliError(f"{prefix}: cannot reach: {_reason(error)}") from None


def find_objects(
    given: str, suffixes: frozenset[str], *, recursive: bool = False
) -> tuple[list[tuple[str, str]], list[str]]:
    """The objects a URL names: a glob (``**`` descends), a "folder" (its images; all
    levels with ``recursive``), or one object.

    Parameters
    ----------
    given : str
        The URL as the user wrote it.
    suffixes : frozenset of str
        Image suffixes (``".png"``...): a folder's or a glob's other objects are left out.
    recursive : bool
        Descend into a folder's sub-folders.

    Returns
    -------
    found : list of (url, folder)
        In name order; ``folder`` is the sub-folder under ``given`` (``"a/"``) with
        ``recursive``, else ``""``.
    ignored : list of str
        Objects left out because they are not images (for one note).
    """
    fs, path = _filesystem(given, "INPUT")
    base = path.rstrip("/") + "/"
    fs.invalidate_cache()
    try:
        if _GLOB.search(path):
            entries = fs.glob(path, detail=True).values()
            base = ""
        elif fs.isdir(path):
            entries = fs.find(path, detail=True) if recursive else fs.ls(path, detail=True)
            entries = entries.values() if isinstance(entries, dict) else entries
        else:
            return [(given, "")], []
    except _failures() as error:
        raise ConvcliError(f"{given}: cannot list: {_reason(error)}") from None
    found: list[tuple[str, str]] = []
    ignored: list[str] = []
    for name in sorted(entry["name"] for entry in entries if entry["type"] == "file"):
        leaf = posixpath.basename(name)
        if leaf.startswith("."):
            continue
        if posixpath.splitext(leaf)[1].lower() not in suffixes:
            ignored.append(_url(fs, name))
            continue
        folder = posixpath.dirname(name[len(base) :]) if base and recursive else ""
        found.append((_url(fs, name), folder + "/" if folder else ""))
    return found, ignored


def canonical(url: str, option: str = "-O/--out-dir") -> str:
    """A URL as listings give it back (``memory://b/x`` is ``memory:///b/x``, ``s3a://`` is
    ``s3://``, ``local://`` is ``file://``), so that two spellings of one object compare
    equal (for the -O prefix: the first use of its store, so an Error names ``option``)."""
    fs, path = _filesystem(url, option)
    return _url(fs, path)


def same_object_key(url: str, option: str = "INPUT") -> str:
    """:func:`canonical` for comparing names, fast enough for a million of them (~2 us, not
    ~20: the store's class strips and restores the protocol; nothing is connected).
    ``option`` names the URL in an error (an unknown protocol).

    >>> same_object_key("s3a://b/x.png"), same_object_key("local:///tmp/x")
    ('s3://b/x.png', 'file:///tmp/x')
    """
    name = protocol(url)
    if name == "file":  # RFC 8089's host, which fsspec's class takes for a folder
        return "file://" + local_path(url, option)
    try:
        kind = _store_class(name)
        first = kind.protocol if isinstance(kind.protocol, str) else kind.protocol[0]
        return f"{first}://{kind._strip_protocol(url)}"
    except Exception:  # anything unusual: the slow, exact way (it names what is wrong)
        return canonical(url, option)


@functools.cache
def _store_class(name: str) -> Any:
    import fsspec  # type: ignore[import-untyped]

    return fsspec.get_filesystem_class(name)


def check_urls(urls: Sequence[str]) -> None:
    """Fail early (one Error naming the extra) when a URL's file system is not installed."""
    for url in urls:
        if is_url(url) and protocol(url) != "file":
            _filesystem(url)


def packages(urls: Sequence[str]) -> list[str]:
    """The modules that read and write these URLs (fsspec and the store's package), for
    a process to import before its first file; none for paths.

    Examples
    --------
    >>> packages(["s3://b/raw/a.png", "out/a.png", "s3://b/out/a.png"])
    ['fsspec', 's3fs']
    >>> packages(["a.png", "file:///tmp/b.png"])
    []
    """
    found = {protocol(url) for url in urls if is_url(url)} - {"file"}
    named = sorted({_EXTRAS[name][1] for name in found if name in _EXTRAS})
    return ["fsspec", *named] if found else []
