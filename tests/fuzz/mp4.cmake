# fuzz harness for mp4
