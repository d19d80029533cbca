"""Path-traced teacher data: Blender scenes rendered into the project's sequence folders."""
