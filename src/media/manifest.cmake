# media/manifest: filled in by the manifest module.
