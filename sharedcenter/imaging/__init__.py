"""Images for the viewer: DICOM frames rendered with window/level, and AI heatmap overlays."""

from sharedcenter.imaging.cache import FrameCache
from sharedcenter.imaging.overlay import heatmap_rgba, overlay_entries, read_heatmap
from sharedcenter.imaging.render import CHEST_PRESETS, Frame, Window, decode_frames, preset_window, render_png, to_png

__all__ = [
    "CHEST_PRESETS",
    "Frame",
    "FrameCache",
    "Window",
    "decode_frames",
    "heatmap_rgba",
    "overlay_entries",
    "preset_window",
    "read_heatmap",
    "render_png",
    "to_png",
]
