# integration tests: media
