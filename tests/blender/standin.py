"""A stand-in for Blender's UILayout, for calling ``draw`` functions in background mode.

Background Blender has no regions to draw into, so panels, menus and dialogs are drawn into
this recorder instead. It is strict where a real layout would fail or silently show
nothing: properties must exist on the data drawn, operators and menus must be registered,
icons must be Blender's, operator properties set on a button must exist. Runs inside
Blender (imports bpy).
"""

from __future__ import annotations

from typing import Any

import bpy

_ICONS: set[str] | None = None


def icons() -> set[str]:
    global _ICONS
    if _ICONS is None:
        fn = bpy.types.UILayout.bl_rna.functions["label"]
        _ICONS = {item.identifier for item in fn.parameters["icon"].enum_items}
    return _ICONS


def _operator_props(idname: str) -> set[str]:
    module, _, name = idname.partition(".")
    op = getattr(getattr(bpy.ops, module), name)
    try:
        rna = op.get_rna_type()
    except KeyError as exc:
        raise AssertionError(f"operator {idname} is not registered") from exc
    return {p.identifier for p in rna.properties}


class OperatorButton:
    _idname: str
    _allowed: set[str]
    values: dict[str, Any]

    def __init__(self, idname: str) -> None:
        object.__setattr__(self, "_idname", idname)
        object.__setattr__(self, "_allowed", _operator_props(idname))
        object.__setattr__(self, "values", {})

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self._allowed:
            raise AssertionError(f"{self._idname} has no property {key!r}")
        self.values[key] = value


class Layout:
    """Records what was drawn as (kind, text) pairs; children share the record."""

    def __init__(self, record: list[tuple[str, str]] | None = None) -> None:
        self.record: list[tuple[str, str]] = [] if record is None else record
        self.enabled = True
        self.active = True
        self.alert = False
        self.scale_y = 1.0
        self.use_property_split = False
        self.use_property_decorate = False

    def _icon(self, icon: str) -> None:
        if icon and icon not in icons():
            raise AssertionError(f"unknown icon {icon!r}")

    def _child(self) -> Layout:
        self.record.append(("layout", ""))
        return Layout(self.record)

    def row(self, align: bool = False, heading: str = "") -> Layout:
        return self._child()

    def column(self, align: bool = False, heading: str = "") -> Layout:
        return self._child()

    def box(self) -> Layout:
        return self._child()

    def split(self, factor: float = 0.0, align: bool = False) -> Layout:
        return self._child()

    def separator(self, factor: float = 1.0) -> None:
        self.record.append(("separator", ""))

    def label(self, text: str = "", icon: str = "NONE", translate: bool = True) -> None:
        if not isinstance(text, str):
            raise AssertionError(f"label text must be a string, got {text!r}")
        self._icon(icon)
        self.record.append(("label", text))

    def prop(self, data: Any, name: str, text: str | None = None, icon: str = "NONE",
             expand: bool = False, **_kw: Any) -> None:
        self._icon(icon)
        rna = getattr(data, "bl_rna", None)
        allowed = getattr(data, "_rna_props", None)
        if allowed is None:
            if rna is None:
                raise AssertionError(f"prop() on {data!r}, which is not Blender data")
            allowed = {p.identifier for p in rna.properties}
        if name not in allowed:
            raise AssertionError(f"{data!r} has no property {name!r}")
        self.record.append(("prop", name))

    def operator(self, idname: str, text: str = "", icon: str = "NONE",
                 **_kw: Any) -> OperatorButton:
        self._icon(icon)
        button = OperatorButton(idname)
        self.record.append(("operator", idname))
        return button

    def menu(self, menu: str, text: str = "", icon: str = "NONE") -> None:
        self._icon(icon)
        if not hasattr(bpy.types, menu):
            raise AssertionError(f"menu {menu} is not registered")
        self.record.append(("menu", menu))

    def labels(self) -> list[str]:
        return [text for kind, text in self.record if kind == "label"]


class Holder:
    """``self`` for a draw: a ``layout`` plus, for operator dialogs, the operator's values."""

    def __init__(self, layout: Layout, op_cls: Any = None, **values: Any) -> None:
        self.layout = layout
        if op_cls is not None:
            module, _, name = op_cls.bl_idname.partition(".")
            rna = getattr(getattr(bpy.ops, module), name).get_rna_type()
            self._rna_props = {p.identifier for p in rna.properties}
            for prop in rna.properties:
                if prop.identifier != "rna_type":
                    default = getattr(prop, "default", None)
                    if getattr(prop, "type", "") == "ENUM":
                        default = prop.default
                    setattr(self, prop.identifier, default)
            for key, value in values.items():
                if key not in self._rna_props:
                    raise AssertionError(f"{op_cls.bl_idname} has no property {key!r}")
                setattr(self, key, value)
            for attr in dir(op_cls):
                if attr.startswith("_") and not attr.startswith("__") and callable(
                        getattr(op_cls, attr)):
                    setattr(self, attr, getattr(op_cls, attr).__get__(self))


def draw(fn: Any, holder: Holder, context: Any = None) -> list[str]:
    fn(holder, context or bpy.context)
    assert isinstance(holder.layout, Layout)
    return holder.layout.labels()
