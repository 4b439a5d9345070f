# unit tests for ampack
