# fuzz harness for manifest
