"""Fixtures of the evidence tests: real recordings (Debian's opencv-doc) and transcodes, made once a session."""

import pytest

from tests.fixtures_media import RealMedia


@pytest.fixture(scope="session")
def real_media(tmp_path_factory) -> RealMedia:
    return RealMedia(tmp_path_factory.mktemp("real-media"))
