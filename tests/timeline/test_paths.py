"""Media locations as each editor writes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kling_bridge.timeline.paths import is_bare_path, path_from_url, same_style, url_from_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        # Premiere: localhost and an encoded drive colon
        ("file://localhost/D%3a/media/sc01_sh010_anim.mov", "D:/media/sc01_sh010_anim.mov"),
        # Final Cut: percent-encoded spaces and '#'
        ("file:///Volumes/Media/My%20Clip%20%231.mov", "/Volumes/Media/My Clip #1.mov"),
        # an unencoded '#' is part of the name, not a fragment (OTIO's helper cuts it)
        ("file:///Volumes/Media/take#2.mov", "/Volumes/Media/take#2.mov"),
        ("file:///C:/Users/ed/cut%20A/x.mov", "C:/Users/ed/cut A/x.mov"),
        ("file://fileserver/share/proj/x.mov", "//fileserver/share/proj/x.mov"),
        ("file:/tmp/x.mov", "/tmp/x.mov"),
        ("file:///tmp/caf%C3%A9.mov", "/tmp/café.mov"),
        # Resolve and EDL comments: bare paths, '%' is a character there
        ("/Volumes/Media/100% done.mov", "/Volumes/Media/100% done.mov"),
        ("S:\\path\\to\\ZZ100_501.take_1.0001.exr", "S:/path/to/ZZ100_501.take_1.0001.exr"),
        ("\\\\server\\share\\a b.mov", "//server/share/a b.mov"),
        ("media/clip.mov", "media/clip.mov"),
    ],
)
def test_path_from_url(url: str, path: str) -> None:
    assert path_from_url(url) == path


def test_remote_urls_are_not_local_files() -> None:
    assert path_from_url("https://cdn.example/x.mp4") is None
    assert path_from_url("") is None


def test_url_from_path_encodes_everything_an_adapter_can_break_on() -> None:
    assert url_from_path("/m/take #1 (b).mov") == "file:///m/take%20%231%20%28b%29.mov"
    assert url_from_path("D:\\media\\a b.mov") == "file:///D:/media/a%20b.mov"
    assert url_from_path("//server/share/x y.mov") == "file://server/share/x%20y.mov"


def test_same_style_keeps_resolve_bare_paths() -> None:
    assert same_style("/Volumes/a.mov", "/out/b #1.mov") == "/out/b #1.mov"
    assert same_style("file:///Volumes/a.mov", "/out/b #1.mov") == "file:///out/b%20%231.mov"
    assert is_bare_path("C:\\x.mov") and not is_bare_path("file:///x.mov")


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="/\x00",
                                               exclude_categories=["Cs"]),
                        min_size=1, max_size=12).filter(lambda p: p not in (".", "..")),
                min_size=1, max_size=4))
def test_posix_paths_survive_url_round_trip(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    assert path_from_url(url_from_path(path)) == path
