# integration tests: http
