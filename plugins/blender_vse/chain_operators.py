"""The chain actions as Sequencer operators (see :mod:`.chains`): dialogs that show the whole
chain's price, then send on the worker like the other actions."""

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import chains, host, service
from .client import BridgeError
from .operators import RESOLUTIONS, _fail, _key, _price_line, _reporter, _scene, preset_search

TO = [("rest", "The rest", "Leave out the clip the look was made on"),
      ("all", "All", "Every selected strip (the look's own clip from the cache, free)")]


def _active(context):
    scene = _scene(context)
    editor = scene.sequence_editor if scene is not None else None
    return editor.active_strip if editor is not None else None


class _Follow:
    """More like this / Next shot of the active strip."""

    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    def _mode(self):
        return "style"

    prompt: StringProperty(name="Prompt", description="What the new footage shows")
    duration: IntProperty(name="Seconds", min=3, max=15, default=5)
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")

    @classmethod
    def poll(cls, context):
        strip = _active(context)
        return strip is not None and strip.type == "MOVIE"

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        return context.window_manager.invoke_props_dialog(self, width=460)

    def draw(self, context):
        layout = self.layout
        strip = _active(context)
        if strip is None:
            layout.label(text="Make the strip to follow the active one", icon="ERROR")
            return
        made = chains.made_by(strip)
        layout.label(text="%s of %s" % (chains.WHAT[self._mode()], strip.name), icon="SEQUENCE")
        layout.label(text="following job %s (its look)" % made[0] if made
                     else "following the strip's own frames", icon="INFO")
        layout.prop(self, "prompt")
        row = layout.row()
        row.prop(self, "duration")
        row.prop(self, "resolution")
        try:
            body, _where = chains.follow_request(_scene(context), strip, self._mode(),
                                                 self.prompt, self.duration, self.resolution,
                                                 dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        _price_line(layout, _key("follow", body), "/generate", body)

    def execute(self, context):
        try:
            service.require_online()
            chains.follow(_scene(context), _active(context), self._mode(), self.prompt,
                          self.duration, self.resolution, on_sent=_reporter(self.bl_label))
        except BridgeError as exc:
            return _fail(self, exc)
        return {"FINISHED"}


class KLING_BRIDGE_OT_more_like_this(_Follow, bpy.types.Operator):
    """New B-roll in the look of the active strip, placed right after it"""

    bl_idname = "kling_bridge.more_like_this"
    bl_label = "More Like This"


class KLING_BRIDGE_OT_next_shot(_Follow, bpy.types.Operator):
    """The shot that follows the active strip, placed right after it"""

    bl_idname = "kling_bridge.next_shot"
    bl_label = "Next Shot"

    def _mode(self):
        return "next_shot"


class KLING_BRIDGE_OT_compare_looks(bpy.types.Operator):
    """The active strip in several looks, then one picture comparing them"""

    bl_idname = "kling_bridge.compare_looks"
    bl_label = "Compare Looks"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    looks: StringProperty(name="Looks", default="film-noir, anime-cel, watercolor",
                          description="Presets, separated by commas")
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")

    @classmethod
    def poll(cls, context):
        strip = _active(context)
        return strip is not None and strip.type == "MOVIE"

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        host.ensure_id(_scene(context), _active(context))
        service.fetch_presets()
        return context.window_manager.invoke_props_dialog(self, width=460)

    def draw(self, context):
        layout = self.layout
        strip = _active(context)
        layout.label(text="Compare looks of %s" % (strip.name if strip else "?"),
                     icon="SEQUENCE")
        layout.prop(self, "looks")
        layout.prop(self, "resolution")
        try:
            body, _sources, _skipped = chains.compare_request(
                _scene(context), strip, chains.looks_of(self.looks), self.resolution,
                dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        _price_line(layout, _key("compare", body), "/restyle", body)

    def execute(self, context):
        try:
            service.require_online()
            chains.compare(_scene(context), _active(context), chains.looks_of(self.looks),
                           self.resolution, on_sent=_reporter("Compare Looks"))
        except BridgeError as exc:
            return _fail(self, exc)
        return {"FINISHED"}


class KLING_BRIDGE_OT_apply_look(bpy.types.Operator):
    """Restyle the selected strips in the look of the active restyled strip (or of a
    comparison column)"""

    bl_idname = "kling_bridge.apply_look"
    bl_label = "Apply Look to the Rest"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    column: IntProperty(name="Comparison column", min=0, max=20, default=0,
                        description="A look of the last comparison picture (0: the look of "
                        "the active restyled strip)")
    job_id: StringProperty(name="Or job", description="A restyle job's id")
    to: EnumProperty(name="Restyle", items=TO, default="rest")

    @classmethod
    def poll(cls, context):
        scene = _scene(context)
        return scene is not None and scene.sequence_editor is not None

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        scene = _scene(context)
        for strip in host.selected(scene):
            host.ensure_id(scene, strip)
        return context.window_manager.invoke_props_dialog(self, width=460)

    def _plan(self, context, dry_run=False):
        scene = _scene(context)
        strips = host.selected(scene)
        job, reference = chains.look_job(scene, strips, self.column, self.job_id.strip())
        body, sources, skipped = chains.apply_look_request(scene, strips, job, self.to,
                                                           dry_run=dry_run,
                                                           reference=reference)
        return job, reference, body, sources, skipped

    def draw(self, context):
        layout = self.layout
        last = chains.last_comparison(_scene(context))
        for col in (last or {}).get("columns", [])[:8]:
            layout.label(text="%d. %s (job %s)" % (col["index"], col["look"], col["job_id"]))
        layout.prop(self, "column")
        layout.prop(self, "job_id")
        layout.prop(self, "to")
        try:
            job, _reference, body, sources, _skipped = self._plan(context, dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        layout.label(text="the look of job %s on %d strip(s)" % (job, len(sources)),
                     icon="BRUSH_DATA")
        _price_line(layout, _key("apply_look", body), "/restyle", body)

    def execute(self, context):
        scene = _scene(context)
        try:
            service.require_online()
            job, reference, _body, _sources, _skipped = self._plan(context)
            chains.apply_look(scene, host.selected(scene), job, self.to,
                              on_sent=_reporter("Apply Look"), reference=reference)
        except BridgeError as exc:
            return _fail(self, exc)
        return {"FINISHED"}


class KLING_BRIDGE_OT_generate_then_restyle(bpy.types.Operator):
    """Generate a clip at the playhead, restyle it, and place only the restyled clip"""

    bl_idname = "kling_bridge.generate_then_restyle"
    bl_label = "Generate then Restyle"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    prompt: StringProperty(name="Prompt", description="What the shot shows")
    preset: StringProperty(name="Then restyle in", default="film-noir", search=preset_search)
    duration: IntProperty(name="Seconds", min=3, max=15, default=5)
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")
    frame: IntProperty(name="At frame", description="Where the clip goes (the playhead)")

    @classmethod
    def poll(cls, context):
        return _scene(context) is not None

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        self.frame = _scene(context).frame_current
        service.fetch_presets()
        return context.window_manager.invoke_props_dialog(self, width=460)

    def _body(self, context, dry_run=False):
        return service.generate_request(_scene(context), self.prompt.strip(), self.frame,
                                        self.duration, "", self.resolution, True,
                                        dry_run=dry_run, then=[{"preset": self.preset}])

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "prompt")
        layout.prop(self, "preset")
        row = layout.row()
        row.prop(self, "duration")
        row.prop(self, "resolution")
        layout.prop(self, "frame")
        if not self.prompt.strip() or not self.preset.strip():
            layout.label(text="Describe the shot and choose the look", icon="INFO")
            return
        body = self._body(context, dry_run=True)
        _price_line(layout, _key("generate_then", body), "/generate", body)

    def execute(self, context):
        if not self.prompt.strip() or not self.preset.strip():
            return _fail(self, BridgeError("no_prompt", "describe the shot and choose the look"))
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        service.send(_scene(context), "/generate", self._body(context), "generate",
                     self.prompt[:60],
                     placement_info={"frame": self.frame, "above": 0},
                     on_sent=_reporter("Generate then Restyle"))
        return {"FINISHED"}


CLASSES = (KLING_BRIDGE_OT_more_like_this, KLING_BRIDGE_OT_next_shot,
           KLING_BRIDGE_OT_compare_looks, KLING_BRIDGE_OT_apply_look,
           KLING_BRIDGE_OT_generate_then_restyle)
