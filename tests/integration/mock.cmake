# integration tests: mock service self-tests (Python stdlib + openssl; no C target needed).
# The known-good counterpart of the C client's TLS/HTTP integration tests.
add_test(NAME integration/mock COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_mock.py)
set_tests_properties(integration/mock PROPERTIES LABELS "integration" TIMEOUT 120)
# The api module (Device API, CDN) and the session licenses, over the test catalog.
add_test(NAME integration/mock_api
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_mock_api.py ${CMAKE_BINARY_DIR}/catalog)
set_tests_properties(integration/mock_api PROPERTIES LABELS "integration" TIMEOUT 300
                                                     FIXTURES_REQUIRED catalog)
# The speke module (SPEKE v2.0 key provider, docs/speke.md); needs no catalog.
# Run by Debian's python3: its SigV4 tests sign with python3-botocore and
# python3-aws-requests-auth (scripts/deps.sh).
add_test(NAME integration/mock_speke
         COMMAND ${AMPD_DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_mock_speke.py)
set_tests_properties(integration/mock_speke PROPERTIES LABELS "integration" TIMEOUT 120)
# SPEKE v2 conformance of the speke module, case for case against the SPEKE v2
# verification test suite of the SPEKE reference server (docs/speke.md §10).
add_test(NAME integration/speke_conformance
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_speke_conformance.py)
set_tests_properties(integration/speke_conformance PROPERTIES LABELS "integration" TIMEOUT 120)
