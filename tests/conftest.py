import shutil
import subprocess

import pytest

# The pytester fixture tests the dual-runtime plugin itself (tests/tools/test_dual_runtime.py).
pytest_plugins = ["pytester"]


@pytest.fixture
def certificate(tmp_path):
    """``certificate(name="tls")`` makes a self-signed certificate for 127.0.0.1 and its key in
    their own folder ``name`` under the test's tmp_path; returns (key path, cert path). Without
    openssl the test fails (it never skips)."""

    def make(name="tls"):
        if shutil.which("openssl") is None:
            pytest.fail("openssl is needed to make a test certificate")
        folder = tmp_path / name
        folder.mkdir()
        key, cert = folder / "key.pem", folder / "cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return str(key), str(cert)

    return make
