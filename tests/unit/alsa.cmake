# unit tests for alsa
