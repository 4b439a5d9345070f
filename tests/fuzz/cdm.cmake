# fuzz harness for cdm
