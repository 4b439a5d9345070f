# integration tests: ampack
