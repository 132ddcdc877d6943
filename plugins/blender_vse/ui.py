"""The sidebar panel (Kling tab), the menu entries and the add-on's preferences.

Drawing only reads: the job list comes from the scene's record, the daemon's state from
what the worker last learned. A draw never waits for the network.
"""

import bpy
from bpy.props import BoolProperty, StringProperty

from . import compat, connection, host, records, service

STATE_ICONS = {"succeeded": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL",
               "needs_attention": "QUESTION", "queued": "TIME", "sending": "URL"}


class KlingBridgePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    daemon_path: StringProperty(
        name="kling-bridge command", subtype="FILE_PATH",
        description="Full path of the 'kling-bridge' command; empty: look on PATH")
    auto_start: BoolProperty(
        name="Start the daemon", default=True,
        description="Run 'kling-bridge serve' when no daemon answers")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "daemon_path")
        layout.prop(self, "auto_start")
        layout.label(text=connection.describe(), icon="INFO")


def preferences():
    """Plain settings for the worker (it must not read bpy data itself)."""
    addon = bpy.context.preferences.addons.get(__package__)
    prefs = addon.preferences if addon is not None else None
    if prefs is None:
        return {"path": "", "auto_start": True}
    return {"path": bpy.path.abspath(prefs.daemon_path) if prefs.daemon_path else "",
            "auto_start": bool(prefs.auto_start)}


def draw_actions(layout):
    col = layout.column(align=True)
    col.operator("kling_bridge.restyle", text="Restyle Selected", icon="BRUSH_DATA")
    col.operator("kling_bridge.generate", text="Generate B-roll", icon="ADD")
    col.operator("kling_bridge.multishot", text="Multi-shot from Markers", icon="MARKER")
    col.operator("kling_bridge.lipsync", text="Lip-sync", icon="SOUND")
    col.operator("kling_bridge.swap", text="Swap Source / Restyled", icon="UV_SYNC_SELECT")
    col = layout.column(align=True)  # both models together
    col.operator("kling_bridge.more_like_this", text="More Like This", icon="DUPLICATE")
    col.operator("kling_bridge.next_shot", text="Next Shot", icon="FORWARD")
    col.operator("kling_bridge.compare_looks", text="Compare Looks", icon="IMAGE_REFERENCE")
    col.operator("kling_bridge.apply_look", text="Apply Look to the Rest", icon="BRUSH_DATA")
    col.operator("kling_bridge.generate_then_restyle", text="Generate then Restyle",
                 icon="ADD")


def draw_comparison(layout, scene):
    """The last comparison picture's columns: the numbers Apply Look takes."""
    from . import chains

    last = chains.last_comparison(scene)
    if not last:
        return
    box = layout.box()
    box.label(text="Comparison: %s" % (last.get("image") or last["path"]),
              icon="IMAGE_REFERENCE")
    for col in last["columns"]:
        box.label(text="%d. %s (job %s)" % (col["index"], col["look"], col["job_id"]))


def draw_status(layout):
    online, _forced = compat.online_access()
    if not online:
        box = layout.box()
        box.label(text="Online access is off", icon="ERROR")
        box.label(text="Preferences > System > Network > Allow Online Access")
        return
    rt = service.RUNTIME
    if rt is not None and rt.status:
        box = layout.box()
        for n, line in enumerate(_wrap(rt.status, 48)[:4]):
            box.label(text=line, icon="ERROR" if n == 0 else "BLANK1")
    health = rt.health if rt is not None else None
    if health:
        draft = any(p.get("draft") for p in health.get("providers", [])
                    if p.get("name") == health.get("provider"))
        layout.label(text="Daemon %s · %s%s" % (health.get("version", "?"),
                                                 health.get("provider", "?"),
                                                 " (drafts, free)" if draft else ""),
                     icon="LINKED")
    layout.operator("kling_bridge.refresh", text="Check Jobs Now", icon="FILE_REFRESH")


def _wrap(text, width):
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = (line + " " + word).strip()
    if line:
        lines.append(line)
    return lines


def draw_jobs(layout, scene, limit=12):
    data = host.read_record(scene)
    rows = records.jobs_for_list(data)
    if not rows:
        layout.label(text="No jobs yet")
        return
    for batch, job_id, job in rows[:limit]:
        box = layout.box()
        state = job.get("state", "?")
        row = box.row()
        row.label(text=job.get("label") or batch.get("label") or job_id,
                  icon=STATE_ICONS.get(state, "SORTTIME"))
        if not job_id:
            pass  # sent, no answer yet: nothing to cancel or select
        elif state not in records.JOB_ENDED:
            row.operator("kling_bridge.cancel", text="", icon="X").job_id = job_id
        elif job.get("applied") and job["applied"] != ["-"]:
            row.operator("kling_bridge.select_result", text="",
                         icon="RESTRICT_SELECT_OFF").job_id = job_id
        row = box.row()
        progress = float(job.get("progress", 0.0))
        text = state if state in records.JOB_ENDED else "%s %d%%" % (state, progress * 100)
        row.label(text=text)
        if batch.get("draft"):
            row.label(text="draft, free")
        else:
            paid = job.get("billed_usd", 0.0) or job.get("estimate_usd", 0.0)
            row.label(text="US$%.2f" % paid)
        for line in (job.get("error"), job.get("note")):
            if line:
                box.label(text=line[:80], icon="INFO")
    if len(rows) > limit:
        layout.label(text="... and %d older job(s)" % (len(rows) - limit))


class KLING_BRIDGE_PT_panel(bpy.types.Panel):
    bl_idname = "KLING_BRIDGE_PT_panel"
    bl_label = "Kling Bridge"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Kling"

    def draw(self, context):
        layout = self.layout
        draw_status(layout)
        draw_actions(layout)


class KLING_BRIDGE_PT_jobs(bpy.types.Panel):
    bl_idname = "KLING_BRIDGE_PT_jobs"
    bl_label = "Jobs"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Kling"
    bl_parent_id = "KLING_BRIDGE_PT_panel"

    def draw(self, context):
        scene = compat.sequencer_scene(context)
        if scene is None:
            self.layout.label(text="No scene in the Sequencer")
            return
        draw_comparison(self.layout, scene)
        draw_jobs(self.layout, scene)


class KLING_BRIDGE_MT_menu(bpy.types.Menu):
    bl_idname = "KLING_BRIDGE_MT_menu"
    bl_label = "Kling"

    def draw(self, context):
        draw_actions(self.layout)


def strip_menu(self, context):
    self.layout.separator()
    self.layout.menu("KLING_BRIDGE_MT_menu", icon="BRUSH_DATA")


def context_menu(self, context):
    self.layout.separator()
    self.layout.operator("kling_bridge.restyle", text="Restyle with Kling", icon="BRUSH_DATA")
    self.layout.operator("kling_bridge.swap", text="Swap Source / Restyled")
    self.layout.operator("kling_bridge.more_like_this", text="More Like This (Kling)")
    self.layout.operator("kling_bridge.next_shot", text="Next Shot (Kling)")
    self.layout.operator("kling_bridge.compare_looks", text="Compare Looks (Kling)")
    self.layout.operator("kling_bridge.apply_look", text="Apply Look to the Rest (Kling)")


def add_menu(self, context):
    self.layout.separator()
    self.layout.operator("kling_bridge.generate", text="Generated Clip (Kling)", icon="ADD")
    self.layout.operator("kling_bridge.multishot", text="Multi-shot from Markers (Kling)")
    self.layout.operator("kling_bridge.generate_then_restyle",
                         text="Generated then Restyled Clip (Kling)")


MENUS = (("SEQUENCER_MT_strip", strip_menu), ("SEQUENCER_MT_context_menu", context_menu),
         ("SEQUENCER_MT_add", add_menu))
CLASSES = (KlingBridgePreferences, KLING_BRIDGE_MT_menu, KLING_BRIDGE_PT_panel,
           KLING_BRIDGE_PT_jobs)
