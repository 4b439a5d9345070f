# No secret in any log: the cloud integration tests and the fetcher's again, at debug, and
# every token, device code, license and content key they used looked for in what they
# logged (tests/integration/no_secrets.py).
add_test(NAME integration/no-secrets
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/no_secrets.py ${AMPACK_CATALOG}
                 $<TARGET_FILE:itest_lwa> ${CMAKE_SOURCE_DIR}
                 :: $<TARGET_FILE:itest_license_client> ${CMAKE_SOURCE_DIR}
                 :: $<TARGET_FILE:itest_report> ${CMAKE_SOURCE_DIR}
                 :: $<TARGET_FILE:itest_report_durable> ${CMAKE_SOURCE_DIR}
                    $<TARGET_FILE:report_driver>
                 :: $<TARGET_FILE:itest_api> ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG}
                 :: $<TARGET_FILE:itest_fetcher> ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG}
                 :: $<TARGET_FILE:itest_player> ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG})
set_tests_properties(integration/no-secrets PROPERTIES LABELS "integration" TIMEOUT 900
                                                       FIXTURES_REQUIRED catalog)
