# media/mp4: filled in by the mp4 module.
