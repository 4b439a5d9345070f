# integration tests: mock service self-tests
