# media/cdmhost: filled in by the cdmhost module.
