"""ampmock: the mock Amazon Music service for ampd's tests (Python 3 stdlib only).

Entry point: tools/mock/ampmock.py. See tools/mock/README.md.
"""
