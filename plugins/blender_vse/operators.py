"""The Sequencer's actions as operators: dialogs that show the price, then send on the worker.

Each ``execute`` only reads the scene and queues the request: the daemon's answer comes
back on the main thread (timer or :func:`.api.drain`), where the batch is remembered and,
later, its results applied. Errors are reported in Blender's status bar with the daemon's
own words and hint.
"""

import json

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import compat, host, placement, service
from .client import BridgeError

RESOLUTIONS = [("720p", "720p", "Fastest, cheapest"), ("1080p", "1080p", "Full HD"),
               ("4k", "4K", "Kling's 4K output")]
ASPECTS = [("16:9", "16:9", "Landscape"), ("9:16", "9:16", "Portrait"),
           ("1:1", "1:1", "Square")]
REFERENCES = [("NONE", "Prompt only", "Text to video"),
              ("IMAGE", "Image", "A still as the first frame"),
              ("FRAME", "Current frame", "The picture under the playhead as the first frame")]


def _fail(op, exc):
    op.report({"ERROR"}, str(exc))
    return {"CANCELLED"}


def _scene(context):
    return compat.sequencer_scene(context)


def _has_editor(context):
    scene = _scene(context)
    return scene is not None and scene.sequence_editor is not None


def _reporter(op_name):
    """on_done for a send: the outcome in the status bar (the operator has returned)."""
    def done(answer, error):
        wm = bpy.context.window_manager
        if error is not None:
            message = "%s failed: %s" % (op_name, error)
        else:
            skipped = answer.get("skipped") or []
            message = "%s: %d job(s) sent, %s%s" % (
                op_name, len(answer.get("jobs", [])), placement.price_text(answer),
                (" -- left out: " + "; ".join("%s (%s)" % (s["name"], s["reason"])
                                              for s in skipped)) if skipped else "")
        service.runtime().status = message if error is not None else ""
        print("kling-bridge:", message)
        if wm is not None:
            host.tag_redraw()
    return done


def preset_search(self, context, edit_text):
    service.fetch_presets()
    items = service.runtime().presets or []
    text = (edit_text or "").lower()
    return [(p["id"], "%s (%s)" % (p["name"], p["category"])) for p in items
            if text in p["id"].lower() or text in p["name"].lower()]


def _price_line(layout, key, path, body):
    state, text = service.estimate_async(key, path, body)
    if state == "ok":
        layout.label(text="Price: " + text, icon="FUND")
    elif state == "pending":
        layout.label(text="Price: asking the daemon...", icon="TIME")
    else:
        layout.label(text="Price unknown: " + text, icon="ERROR")


def _key(*parts):
    return json.dumps(parts, sort_keys=True, default=str)


class KLING_BRIDGE_OT_restyle(bpy.types.Operator):
    """Restyle the selected movie strips with Kling O3 (the results land above them)"""

    bl_idname = "kling_bridge.restyle"
    bl_label = "Restyle Selected Strips"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    preset: StringProperty(name="Preset", description="A look from the daemon's presets",
                           search=preset_search)
    prompt: StringProperty(name="Prompt", description="Your own words (added to the preset)")
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")
    variants: IntProperty(name="Variants", min=1, max=8, default=1)

    @classmethod
    def poll(cls, context):
        return _has_editor(context)

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        scene = _scene(context)
        strips = host.selected(scene)
        if not strips:
            self.report({"ERROR"}, "select the movie strips to restyle")
            return {"CANCELLED"}
        for strip in strips:
            host.ensure_id(scene, strip)  # ids are written here: draw() may not write
        service.fetch_presets()
        return context.window_manager.invoke_props_dialog(self, width=460)

    def _body(self, context, dry_run=False):
        scene = _scene(context)
        return service.restyle_request(scene, host.selected(scene), self.preset.strip(),
                                       self.prompt.strip(), self.resolution, self.variants,
                                       dry_run=dry_run)

    def draw(self, context):
        layout = self.layout
        scene = _scene(context)
        strips = host.selected(scene)
        layout.label(text="%d strip(s) selected" % len(strips), icon="SEQUENCE")
        layout.prop(self, "preset")
        layout.prop(self, "prompt")
        row = layout.row()
        row.prop(self, "resolution")
        row.prop(self, "variants")
        if not self.preset.strip() and not self.prompt.strip():
            layout.label(text="Choose a preset or write a prompt", icon="INFO")
            return
        try:
            body, _sources, skipped = self._body(context, dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        for name, reason in skipped[:4]:
            layout.label(text="%s: %s" % (name, reason), icon="X")
        key = _key("restyle", scene.name, body)
        _price_line(layout, key, "/restyle", body)

    def execute(self, context):
        try:
            service.require_online()
            body, sources, skipped = self._body(context)
        except BridgeError as exc:
            return _fail(self, exc)
        if not sources:
            return _fail(self, BridgeError("empty", "nothing to restyle: " + "; ".join(
                "%s: %s" % s for s in skipped) if skipped else "no strip selected"))
        scene = _scene(context)
        service.send(scene, "/restyle", body, "restyle",
                     self.preset or self.prompt[:40], sources=sources,
                     on_sent=_reporter("Restyle"))
        self.report({"INFO"}, "Restyle: sending %d strip(s) to kling-bridge" % len(sources))
        return {"FINISHED"}


class KLING_BRIDGE_OT_generate(bpy.types.Operator):
    """Generate a clip with Kling 3.0 at the playhead, on the first free channel"""

    bl_idname = "kling_bridge.generate"
    bl_label = "Generate B-roll"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    prompt: StringProperty(name="Prompt", description="What the shot shows")
    duration: IntProperty(name="Seconds", min=3, max=15, default=5)
    aspect: EnumProperty(name="Aspect", items=ASPECTS, default="16:9")
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")
    audio: BoolProperty(name="Sound", description="Kling's native sound", default=True)
    reference: EnumProperty(name="Start from", items=REFERENCES, default="NONE")
    image: StringProperty(name="Image", subtype="FILE_PATH")
    frame: IntProperty(name="At frame", description="Where the clip goes (the playhead)")

    @classmethod
    def poll(cls, context):
        return _scene(context) is not None

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        scene = _scene(context)
        self.aspect = host.aspect_of(scene)
        self.frame = scene.frame_current
        return context.window_manager.invoke_props_dialog(self, width=460)

    def _body(self, context, dry_run=False):
        return service.generate_request(
            _scene(context), self.prompt.strip(), self.frame, self.duration, self.aspect,
            self.resolution, self.audio, self.image if self.reference == "IMAGE" else "",
            self.reference == "FRAME", dry_run=dry_run)

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "prompt")
        row = layout.row()
        row.prop(self, "duration")
        row.prop(self, "aspect")
        row = layout.row()
        row.prop(self, "resolution")
        row.prop(self, "audio")
        layout.prop(self, "reference")
        if self.reference == "IMAGE":
            layout.prop(self, "image")
        layout.prop(self, "frame")
        if not self.prompt.strip() and self.reference == "NONE":
            layout.label(text="Describe the shot", icon="INFO")
            return
        try:
            body = self._body(context, dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        _price_line(layout, _key("generate", body), "/generate", body)

    def execute(self, context):
        try:
            service.require_online()
            body = self._body(context)
        except BridgeError as exc:
            return _fail(self, exc)
        service.send(_scene(context), "/generate", body, "generate",
                     self.prompt[:40] or "B-roll",
                     placement_info={"frame": self.frame, "above": 0},
                     on_sent=_reporter("Generate"))
        self.report({"INFO"}, "Generate: sent to kling-bridge")
        return {"FINISHED"}


class KLING_BRIDGE_OT_multishot(bpy.types.Operator):
    """One multi-shot clip from the selected markers: each marker's name is a shot"""

    bl_idname = "kling_bridge.multishot"
    bl_label = "Multi-shot from Markers"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    last_seconds: IntProperty(name="Last shot (s)", min=1, max=15, default=3)
    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")
    audio: BoolProperty(name="Sound", default=True)

    @classmethod
    def poll(cls, context):
        return _scene(context) is not None

    def invoke(self, context, event):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        if not host.selected_markers(_scene(context)):
            self.report({"ERROR"}, "select the markers whose names are the shots")
            return {"CANCELLED"}
        return context.window_manager.invoke_props_dialog(self, width=460)

    def _plan(self, context):
        scene = _scene(context)
        markers = host.selected_markers(scene)
        if not markers:
            raise BridgeError("no_markers", "select the markers whose names are the shots")
        try:
            shots, notes = placement.shots_from_markers(markers, host.scene_rate(scene),
                                                        self.last_seconds)
        except ValueError as exc:
            raise BridgeError("bad_marker", str(exc)) from None
        return scene, min(f for f, _ in markers), shots, notes

    def draw(self, context):
        layout = self.layout
        try:
            scene, first, shots, notes = self._plan(context)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        for n, shot in enumerate(shots, 1):
            layout.label(text="%d. %d s  %s" % (n, shot["duration"], shot["prompt"][:60]))
        for note in notes:
            layout.label(text=note, icon="INFO")
        layout.prop(self, "last_seconds")
        row = layout.row()
        row.prop(self, "resolution")
        row.prop(self, "audio")
        body = service.generate_request(scene, shots[0]["prompt"], first,
                                        resolution=self.resolution, audio=self.audio,
                                        shots=shots, dry_run=True)
        _price_line(layout, _key("generate", body), "/generate", body)

    def execute(self, context):
        try:
            service.require_online()
            scene, first, shots, _notes = self._plan(context)
        except BridgeError as exc:
            return _fail(self, exc)
        body = service.generate_request(scene, shots[0]["prompt"], first,
                                        resolution=self.resolution, audio=self.audio,
                                        shots=shots)
        service.send(scene, "/generate", body, "generate",
                     "multi-shot · " + shots[0]["prompt"][:30],
                     placement_info={"frame": first, "above": 0},
                     on_sent=_reporter("Multi-shot"))
        return {"FINISHED"}


class KLING_BRIDGE_OT_lipsync(bpy.types.Operator):
    """Lip-sync the selected movie or image strip to the selected sound strip"""

    bl_idname = "kling_bridge.lipsync"
    bl_label = "Lip-sync"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    resolution: EnumProperty(name="Resolution", items=RESOLUTIONS, default="1080p")

    @classmethod
    def poll(cls, context):
        return _has_editor(context)

    def invoke(self, context, event):
        try:
            service.require_online()
            service.lipsync_pair(host.selected(_scene(context)))
        except BridgeError as exc:
            return _fail(self, exc)
        return context.window_manager.invoke_props_dialog(self, width=420)

    def draw(self, context):
        layout = self.layout
        scene = _scene(context)
        try:
            sound, face = service.lipsync_pair(host.selected(scene))
            body = service.lipsync_request(scene, sound, face, self.resolution, dry_run=True)
        except BridgeError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        layout.label(text="Voice: %s" % sound.name, icon="SOUND")
        layout.label(text="Face: %s" % face.name, icon="SEQUENCE")
        layout.prop(self, "resolution")
        _price_line(layout, _key("lipsync", body), "/lipsync", body)

    def execute(self, context):
        scene = _scene(context)
        try:
            service.require_online()
            sound, face = service.lipsync_pair(host.selected(scene))
            body = service.lipsync_request(scene, sound, face, self.resolution)
        except BridgeError as exc:
            return _fail(self, exc)
        service.send(scene, "/lipsync", body, "lipsync", "lip-sync · " + sound.name,
                     placement_info={"frame": compat.timing(sound)[0], "above": face.channel},
                     on_sent=_reporter("Lip-sync"))
        return {"FINISHED"}


class KLING_BRIDGE_OT_cancel(bpy.types.Operator):
    """Cancel the job in the daemon (tasks Kling already started stay paid)"""

    bl_idname = "kling_bridge.cancel"
    bl_label = "Cancel Job"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    job_id: StringProperty()

    def execute(self, context):
        service.cancel(self.job_id, _reporter("Cancel"))
        service.runtime()._poll_now.set()
        return {"FINISHED"}


class KLING_BRIDGE_OT_select_result(bpy.types.Operator):
    """Select the strips a job put on the timeline"""

    bl_idname = "kling_bridge.select_result"
    bl_label = "Select Result"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    job_id: StringProperty()

    def execute(self, context):
        scene = _scene(context)
        found = host.with_job(scene, self.job_id)
        if not found:
            self.report({"WARNING"}, "the result of %s is not on the timeline (deleted?)"
                        % self.job_id)
            return {"CANCELLED"}
        for strip in host.every_strip(scene):
            strip.select = False
        for strip in found:
            strip.select = True
        scene.sequence_editor.active_strip = found[0]
        scene.frame_current = compat.timing(found[0])[0]
        return {"FINISHED"}


class KLING_BRIDGE_OT_swap(bpy.types.Operator):
    """Flip between the active strip's source and its restyled version (mute one)"""

    bl_idname = "kling_bridge.swap"
    bl_label = "Swap Source / Restyled"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context):
        scene = _scene(context)
        editor = scene.sequence_editor if scene is not None else None
        return editor is not None and editor.active_strip is not None

    def execute(self, context):
        scene = _scene(context)
        try:
            shown, hidden = service.swap(scene, scene.sequence_editor.active_strip)
        except BridgeError as exc:
            return _fail(self, exc)
        self.report({"INFO"}, "showing %s (muted %s)" % (shown.name, hidden.name))
        return {"FINISHED"}


class KLING_BRIDGE_OT_refresh(bpy.types.Operator):
    """Ask the daemon about unfinished jobs now and apply finished ones"""

    bl_idname = "kling_bridge.refresh"
    bl_label = "Check Jobs Now"
    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    def execute(self, context):
        try:
            service.require_online()
        except BridgeError as exc:
            return _fail(self, exc)
        service.runtime().presets = None
        service.runtime().estimates.clear()
        count = service.resume_all()

        def done(health, error):
            rt = service.runtime()
            rt.health = health if error is None else None
            rt.status = "" if error is None else str(error)
            host.tag_redraw()

        service.runtime().submit(lambda client: client.health(), done)
        self.report({"INFO"}, "checking %d batch(es)" % count)
        return {"FINISHED"}


CLASSES = (KLING_BRIDGE_OT_restyle, KLING_BRIDGE_OT_generate, KLING_BRIDGE_OT_multishot,
           KLING_BRIDGE_OT_lipsync, KLING_BRIDGE_OT_cancel, KLING_BRIDGE_OT_select_result,
           KLING_BRIDGE_OT_swap, KLING_BRIDGE_OT_refresh)
