# unit tests for decoder
