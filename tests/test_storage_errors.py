"""A store's failure the user can fix is one ``Error:`` line naming the URL, exit 1, never
an "internal error": no AWS credentials (for an input, ``-o`` and ``-O``), a partial
credential source, an unknown profile, an endpoint that refuses connections, an unknown
protocol (which names the option that gave it). Nothing here needs the network: botocore
finds no credentials before any request, and the only endpoint is a closed port on
127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

BUCKET = "s3://nonexistent-bucket-zz"
NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or AWS_PROFILE for a profile in ~/.aws/credentials)"
)
#: Everything botocore reads credentials, a profile or an endpoint from.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CREDENTIAL_EXPIRATION",
)


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS credentials anywhere botocore looks (and no instance metadata lookup, which
    would wait on 169.254.169.254). s3fs file systems are cached by their arguments, not
    the environment: the cache is emptied before (an instance holding the moto server's
    credentials) and after (this test's instance, holding none)."""
    import s3fs

    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()
    yield monkeypatch
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def images(tmp_path):
    """Three small PNGs in ``in/``."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            folder / f"{name}.png"
        )
    return folder


def expand(args: list[str], images, out) -> list[str]:
    """``IN/a.png`` and ``OUT/o.png`` as paths under this test's folders."""
    return [
        str(images) + arg[2:] if arg.startswith("IN/")
        else str(out) + arg[3:] if arg.startswith("OUT")
        else arg
        for arg in args
    ]  # fmt: skip


def files(folder) -> list[str]:
    return sorted(path.name for path in folder.rglob("*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["IN/a.png", "-O", f"{BUCKET}/out/"], f"{BUCKET}/out: cannot list: {NO_CREDENTIALS}"),
        (["IN/a.png", "-o", f"{BUCKET}/o.png"], f"{BUCKET}/o.png: cannot write: {NO_CREDENTIALS}"),
        (["IN/a.png", "-o", f"{BUCKET}/o.png", "--force"],
         f"{BUCKET}/o.png: cannot write: {NO_CREDENTIALS}"),
        ([f"{BUCKET}/a.png", "-o", "OUT/o.png"], f"{BUCKET}/a.png: cannot read: {NO_CREDENTIALS}"),
        ([f"{BUCKET}/in/", "-O", "OUT"], f"{BUCKET}/in/: cannot list: {NO_CREDENTIALS}"),
        ([f"{BUCKET}/in/*.png", "-O", "OUT"], f"{BUCKET}/in/*.png: cannot list: {NO_CREDENTIALS}"),
    ],
)  # fmt: skip
def test_no_aws_credentials_is_one_error_line_naming_the_url(
    cli, no_aws, images, tmp_path, args, message
):
    (tmp_path / "out").mkdir()
    args = expand(args, images, tmp_path / "out")
    result = cli("apply", *args, "-k", "sobel")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    assert files(tmp_path / "out") == []
    assert files(images) == ["a.png", "b.png", "c.png"]


def test_a_batch_to_s3_without_credentials_fails_once_before_any_file(cli, no_aws, images):
    # The -O prefix is listed once before any file is read: one line, not one per file.
    result = cli("apply", str(images), "-k", "sobel", "-O", f"{BUCKET}/out/", "-j", "1")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {BUCKET}/out: cannot list: {NO_CREDENTIALS}\n"
    # With --force there is no listing: one cheap request fails as once.
    forced = cli("apply", str(images), "-k", "sobel", "-O", f"{BUCKET}/out/", "-j", "1",
                 "--force")  # fmt: skip
    assert (forced.exit_code, forced.stdout) == (1, "")
    assert forced.stderr == f"Error: {BUCKET}/out: cannot reach: {NO_CREDENTIALS}\n"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIA-NEVER-SHOWN"},
         "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY"),
        ({"AWS_PROFILE": "no-such-profile"},
         "The config profile (no-such-profile) could not be found"),
        ({"AWS_ACCESS_KEY_ID": "AKIA-NEVER-SHOWN", "AWS_SECRET_ACCESS_KEY": "secret-never-shown",
          "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"},
         f'Could not connect to the endpoint URL: "http://127.0.0.1:1/{BUCKET[5:]}/a.png"'),
    ],
)  # fmt: skip
def test_other_botocore_failures_are_one_error_line_without_credentials(
    cli, no_aws, tmp_path, variables, message
):
    for name, value in variables.items():
        no_aws.setenv(name, value)
    result = cli("apply", f"{BUCKET}/a.png", "-k", "sobel", "-o", str(tmp_path / "o.png"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {BUCKET}/a.png: cannot read: {message}\n"
    assert "NEVER-SHOWN" not in result.stderr and "never-shown" not in result.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["IN/a.png", "-O", "foo://bar/"], "-O/--out-dir 'foo://bar/': Protocol not known: foo"),
        (["IN/a.png", "-o", "foo://bar/o.png"],
         "-o/--output 'foo://bar/o.png': Protocol not known: foo"),
        (["foo://bar/a.png", "-o", "OUT/o.png"],
         "INPUT 'foo://bar/a.png': Protocol not known: foo"),
        (["foo://bar/", "-O", "OUT"], "INPUT 'foo://bar/': Protocol not known: foo"),
    ],
)  # fmt: skip
def test_an_unknown_protocol_names_the_option_that_gave_it(cli, images, tmp_path, args, message):
    (tmp_path / "out").mkdir()
    args = expand(args, images, tmp_path / "out")
    result = cli("apply", *args, "-k", "sobel")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    assert files(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["IN/a.png", "-O", "s3://"], "-O/--out-dir 's3://' names no bucket; give s3://BUCKET/..."),
        (["IN/", "-O", "s3:///"], "-O/--out-dir 's3:///' names no bucket; give s3://BUCKET/..."),
        (["IN/a.png", "-O", "s3a://", "--force"],
         "-O/--out-dir 's3a://' names no bucket; give s3a://BUCKET/..."),
        (["s3://", "-O", "OUT"], "INPUT 's3://' names no bucket; give s3://BUCKET/..."),
    ],
)  # fmt: skip
def test_a_whole_store_without_a_bucket_names_the_option(cli, no_aws, images, tmp_path, args,
                                                         message):  # fmt: skip
    (tmp_path / "out").mkdir()
    args = expand(args, images, tmp_path / "out")
    no_aws.chdir(tmp_path / "out")  # `-O s3a:// --force` once wrote ./s3:/a-sobel.png here
    result = cli("apply", *args, "-k", "sobel")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert files(tmp_path / "out") == []


def test_storage_never_imports_botocore():
    # Its errors are looked up only once s3fs has loaded botocore.
    code = "import sys, convcli.storage; print('botocore' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "False\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["IN/a.png", "-O", "s3://AKIAFAKE:secretXYZ@bkt/out/"],
         "-O/--out-dir 's3://...@bkt/...': credentials are not taken from a URL; set them in "
         "the environment or a profile"),
        (["s3://AKIAFAKE:secretXYZ@bkt/a.png", "-o", "OUT.png"],
         "INPUT 's3://...@bkt/...': credentials are not taken from a URL; set them in the "
         "environment or a profile"),
        (["IN/a.png", "-O", "OUT", "--dask", "tls://user:secretXYZ@127.0.0.1:1"],
         "--dask 'tls://...@127.0.0.1:1': credentials are not taken from the address; Dask's "
         "TLS settings give a secure connection"),
        (["IN/a.png", "-O", "OUT", "--dask", "127.0.0.1:99999"],
         "--dask '127.0.0.1:99999': give a scheduler address (tcp://host:8786), local, local:N "
         "or auto"),
    ],
)  # fmt: skip
def test_credentials_in_an_address_are_refused_and_never_echoed(cli, images, tmp_path, args,
                                                                 message):  # fmt: skip
    words = [w.replace("IN", str(images)).replace("OUT", str(tmp_path / "out")) for w in args]
    result = cli("apply", *words, "-k", "sobel")
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert "secretXYZ" not in result.stderr + result.stdout
