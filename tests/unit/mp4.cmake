# unit tests for mp4
