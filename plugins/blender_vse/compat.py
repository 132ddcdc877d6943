"""Everything that differs between Blender 4.2 LTS, 4.5 LTS, 5.0 and 5.2 LTS, in one place.

* 4.4 renamed ``Sequence`` -> ``Strip`` and ``sequences`` -> ``strips`` (4.4/4.5 have both,
  5.0 only the new names), so the collections are looked up by whichever name exists.
* 5.0 made the Sequencer edit ``workspace.sequencer_scene`` instead of the window's scene
  (``context.sequencer_scene``; None until the user picks one).
* 5.1 added ``left_handle``/``right_handle``/``duration`` and deprecated the ``frame_*``
  timing for 6.0; the ``frame_*`` names still work (with a warning), so both are read here.
* 5.0's ``new_effect`` takes ``length=`` where 4.x took ``frame_end=``.
* The 4.2 Python module has no audio (``new_sound`` raises); a real Blender 4.2 has.

Nothing else in the extension names a version.
"""

import warnings

import bpy

VERSION = bpy.app.version


def strip_collection(holder):
    """The strips directly inside ``holder`` (a SequenceEditor or a meta strip)."""
    strips = getattr(holder, "strips", None)
    return strips if strips is not None else holder.sequences


def all_strips(editor):
    """Every strip of the editor, those inside meta strips included."""
    strips = getattr(editor, "strips_all", None)
    return strips if strips is not None else editor.sequences_all


def shown_strips(editor):
    """The strips of the level the user is looking at (inside an opened meta strip or not)."""
    stack = editor.meta_stack
    if len(stack):
        return strip_collection(stack[-1])
    return strip_collection(editor)


def sequencer_scene(context=None):
    """The scene the Sequencer edits: the workspace's own from 5.0, else the window's."""
    context = context or bpy.context
    scene = getattr(context, "sequencer_scene", None)
    if scene is not None:
        return scene
    workspace = getattr(context, "workspace", None)
    scene = getattr(workspace, "sequencer_scene", None) if workspace is not None else None
    return scene or context.scene


def set_sequencer_scene(scene, context=None):
    """Make ``scene`` the one the Sequencer shows (5.0+: the workspace's; before: the window's)."""
    context = context or bpy.context
    workspace = getattr(context, "workspace", None)
    if workspace is not None and hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = scene
    window = getattr(context, "window", None)
    if window is not None:
        window.scene = scene


def editor_of(scene, create=False):
    if scene.sequence_editor is None and create:
        scene.sequence_editor_create()
    return scene.sequence_editor


def strip_type(strip):
    """'MOVIE', 'SOUND', 'IMAGE', 'META', 'SCENE', 'TEXT', 'COLOR', ... (same on all versions)."""
    return strip.type


def timing(strip):
    """(first frame shown, frames shown, frames trimmed at the start) of a strip.

    5.1+ spells these ``left_handle``/``duration``/``left_handle_offset``; the old names still
    answer until 6.0, with a DeprecationWarning kept out of the user's console.
    """
    if hasattr(strip, "left_handle") and hasattr(strip, "duration"):
        start = int(strip.left_handle)
        length = int(strip.duration)
        trim = round(strip.left_handle - strip.content_start)
        return start, length, trim
    return (int(strip.frame_final_start), int(strip.frame_final_duration),
            round(strip.frame_offset_start))


def content(strip):
    """(hold offset at the start, content frames, hold offset at the end) of a movie strip."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return (int(getattr(strip, "animation_offset_start", 0)),
                int(strip.frame_duration),
                int(getattr(strip, "animation_offset_end", 0)))


def content_on_timeline(strip):
    """Scene frames the strip's whole content spans (trims put back). A movie at another
    rate than the scene spans its own frame count when Blender plays it frame for frame,
    fewer or more when it plays it in real time ("Adjust Playback Rate", the default when
    a movie is added from the UI -- a flag Python cannot read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return round(strip.frame_final_duration + strip.frame_offset_start
                     + strip.frame_offset_end)


def place(strip, start):
    """Move a new strip so its first shown frame is ``start`` (no trims on new strips)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        strip.frame_start = start


def set_length(strip, frames):
    """Show ``frames`` frames (moves the end handle; 5.1+ warns about the old name)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        strip.frame_final_duration = frames


def new_sound(scene, name, path, channel, start):
    """A sound strip, or None with the reason when this Blender has no audio (4.2's module)."""
    coll = strip_collection(editor_of(scene, create=True))
    try:
        return coll.new_sound(name=name, filepath=path, channel=channel, frame_start=start), ""
    except RuntimeError as exc:
        return None, str(exc).replace("Error: ", "").strip()


def new_color(scene, name, channel, start, length):
    """A colour strip (an effect): 5.0 takes ``length=``, 4.x ``frame_end=``."""
    coll = strip_collection(editor_of(scene, create=True))
    if VERSION >= (5, 0, 0):
        return coll.new_effect(name=name, type="COLOR", channel=channel, frame_start=start,
                               length=length)
    return coll.new_effect(name=name, type="COLOR", channel=channel, frame_start=start,
                           frame_end=start + length)


def sound_path(strip):
    sound = getattr(strip, "sound", None)
    return sound.filepath if sound is not None else ""


def image_path(strip):
    elements = getattr(strip, "elements", None)
    if not elements:
        return ""
    return strip.directory.rstrip("/\\") + "/" + elements[0].filename


def online_access():
    """``bpy.app.online_access`` (4.2+), and whether the command line forced it."""
    return (bool(getattr(bpy.app, "online_access", True)),
            bool(getattr(bpy.app, "online_access_override", False)))
