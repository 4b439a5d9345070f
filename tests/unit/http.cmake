# unit tests for http
