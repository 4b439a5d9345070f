# unit tests for manifest
