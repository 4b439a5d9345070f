# unit tests for cdm
