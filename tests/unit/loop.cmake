# unit tests for loop
