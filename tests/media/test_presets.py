"""Presets as data: shipped looks load and render; user looks override; broken ones are named."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path

import pytest

from kling_bridge.media.drafts import edit_command
from kling_bridge.media.errors import PresetError
from kling_bridge.media.looks import check_filter, draft_graph
from kling_bridge.media.presets import (
    CATEGORIES,
    SHIPPED_DIR,
    Preset,
    kling_prompt,
    load_presets,
)
from kling_bridge.media.probe import probe

MakeClip = Callable[..., Path]
SHIPPED = load_presets(Path("/nonexistent"), strict=True)

REQUIRED = {
    "style": {"oil-painting", "anime-cel", "watercolor", "cyberpunk-neon", "film-noir",
              "vintage-8mm"},
    "scene": {"scene-studio", "scene-forest", "scene-rooftop-sunset", "scene-broadcast-set"},
    "enhance": {"cinematic-grade", "shallow-dof", "golden-hour", "fog", "rain", "dust-motes"},
}


def test_shipped_presets_cover_the_brief() -> None:
    by_cat = {c: {p.id for p in SHIPPED.by_category(c)} for c in CATEGORIES}
    for cat, ids in REQUIRED.items():
        assert ids <= by_cat[cat], ids - by_cat[cat]
    assert len(by_cat["remix"]) >= 3
    for p in SHIPPED.presets.values():
        assert "@video_1" in p.kling_prompt and len(p.kling_prompt) <= 2500
        assert 0 < len(p.description) <= 80
        assert Path(p.path).parent == SHIPPED_DIR and Path(p.path).stem == p.id
    menu = SHIPPED.menu()
    assert [m["category"] for m in menu] == sorted(
        (m["category"] for m in menu), key=CATEGORIES.index)
    assert set(menu[0]) >= {"id", "name", "category", "description"}


def _write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _preset(pid: str, **changes: str) -> dict[str, str]:
    base = {"id": pid, "name": "Mine", "category": "style", "description": "my look",
            "kling_prompt": "Restyle @video_1 in teal.", "draft_filter": "hue=h=180"}
    return base | changes


def test_user_presets_add_and_override(tmp_path: Path) -> None:
    _write(tmp_path, "film-noir.json", _preset("film-noir", name="My noir"))
    _write(tmp_path, "teal-dream.json", _preset("teal-dream"))
    lib = load_presets(tmp_path)
    assert lib.get("film-noir").name == "My noir" and lib.get("film-noir").user
    assert lib.get("teal-dream").category == "style"
    assert lib.get("oil-painting").user is False
    assert lib.problems == ()


def test_default_user_folder_is_the_config_dir(bridge_home: Path) -> None:
    from kling_bridge.config import Paths

    _write(Paths.resolve().presets_dir, "teal-dream.json", _preset("teal-dream"))
    assert "teal-dream" in load_presets().presets


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON (line 1"),
        (["a list"], "must hold a JSON object"),
        ({"id": "x"}, "is missing name, category"),
        (_preset("broken", category="mood"), "category 'mood' is not one of"),
        (_preset("broken", kling_prompt="a teal look"), "never mentions @video_1"),
        (_preset("broken", draft_filter=""), "draft_filter must be non-empty"),
        (_preset("Broken Look"), "must be lower-case"),
        (_preset("broken") | {"extra": "1"}, "unknown keys extra"),
        (_preset("other-id"), "differs from the file name"),
    ],
)
def test_broken_user_preset_is_named_and_spares_the_rest(tmp_path: Path, content: object,
                                                         problem: str) -> None:
    path = _write(tmp_path, "broken.json", content)
    lib = load_presets(tmp_path)
    assert "film-noir" in lib.presets  # shipped looks still there
    assert len(lib.problems) == 1
    err = lib.problems[0]
    assert err.path == str(path) and problem in err.problem and err.hint
    with pytest.raises(PresetError) as caught:
        lib.get("broken")
    assert str(path) in str(caught.value)
    with pytest.raises(PresetError):
        load_presets(tmp_path, strict=True)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(PresetError) as caught:
        SHIPPED.get("vaporwave")
    assert "film-noir" in caught.value.hint and "vaporwave.json" in caught.value.hint


def test_prompt_combines_preset_and_words() -> None:
    noir = SHIPPED.get("film-noir")
    both = kling_prompt(noir, "rain on the window")
    assert both.startswith(noir.kling_prompt) and both.endswith("rain on the window")
    words = kling_prompt(None, "make it look like claymation")
    assert "@video_1" in words and "claymation" in words
    assert kling_prompt(noir, None) == noir.kling_prompt


def test_broken_filter_graph_is_caught_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad-graph.json", _preset("bad-graph", draft_filter="nosuchfilter=1"))
    bad = load_presets(tmp_path).get("bad-graph")
    with pytest.raises(PresetError) as caught:
        check_filter(bad.draft_filter, preset=bad)
    assert caught.value.path == str(path)


def test_variants_and_free_words_change_the_graph() -> None:
    noir = SHIPPED.get("film-noir")
    assert draft_graph(noir) == noir.draft_filter
    assert draft_graph(noir, seed=1) != draft_graph(noir, seed=2)
    assert draft_graph(None, words="a") in {draft_graph(None, words=w) for w in "abcdefgh"}
    assert draft_graph(None) == "null"


def _psnr(a: Path, b: Path, size: str) -> float:
    graph = (f"[0:v]format=yuv420p[x];[1:v]fps=24,scale={size},setsar=1,format=yuv420p[y];"
             "[x][y]psnr")
    out = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(a), "-i", str(b),
                          "-lavfi", graph, "-f", "null", "-"], capture_output=True, text=True)
    m = re.search(r"average:([0-9.]+|inf)", out.stderr)
    assert m, out.stderr[-500:]
    return float(m[1])


@pytest.mark.parametrize("preset", sorted(SHIPPED.presets.values(), key=attrgetter("id")),
                         ids=lambda p: p.id)
def test_every_shipped_look_renders_and_changes_the_picture(preset: Preset, clip: MakeClip,
                                                            tmp_path: Path) -> None:
    src = clip("detail.mp4", width=320, height=180, rate="24", frames=12, pattern="testsrc2",
               audio=True)
    out = tmp_path / f"{preset.id}.mp4"
    subprocess.run(edit_command(src, out, draft_graph(preset), resolution="720p",
                                keep_audio=True, comment=f"kling-bridge draft {preset.id}",
                                preset="ultrafast"), check=True)
    info = probe(out)
    assert info.video is not None and info.video.frame_count == 12
    assert (info.video.width, info.video.height) == (1280, 720)
    assert info.audio is not None
    assert "kling-bridge draft" in info.tags.get("comment", "")
    # measurably different from the source (identical would be ~inf dB; light grades ~30)
    assert _psnr(out, src, "1280:720") < 32.0
