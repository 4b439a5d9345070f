# unit tests for ampprobe
