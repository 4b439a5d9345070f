# media/decoder: filled in by the decoder module.
