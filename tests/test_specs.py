from fractions import Fraction

from kling_bridge.config import Paths, load_settings
from kling_bridge.specs import (
    ClipRef,
    GenerateSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
    parse_rate,
    spec_from_dict,
    spec_to_dict,
)


def test_specs_round_trip_through_json_shapes() -> None:
    spec = RestyleSpec(
        source=SourceRange("/m/a b#1.mov", 10, 48, "24000/1001", 12, 12),
        look=Look(preset="film-noir"),
        clip=ClipRef("c1", "A001", 0, "V1", 86400, 48, "24000/1001"),
    )
    again = spec_from_dict("restyle", spec_to_dict(spec))
    assert again == spec
    assert again.source.fps == Fraction(24000, 1001)
    gen = GenerateSpec(prompt="x", shots=(Shot("a", 2), Shot("b", 3)), duration=5)
    assert spec_from_dict("generate", spec_to_dict(gen)) == gen


def test_parse_rate_snaps_ntsc_floats() -> None:
    assert parse_rate(23.976) == Fraction(24000, 1001)
    assert parse_rate(29.97) == Fraction(30000, 1001)
    assert parse_rate("25") == 25
    assert parse_rate(59.94) == Fraction(60000, 1001)


def test_home_relocates_every_path(bridge_home) -> None:
    paths = Paths.resolve()
    for p in (paths.config_file, paths.database, paths.discovery_file, paths.log_file,
              paths.outputs_dir, paths.cache_dir):
        assert bridge_home in p.parents
    assert load_settings().provider == "draft"
