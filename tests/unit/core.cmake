# unit tests for core
