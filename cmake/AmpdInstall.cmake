# What `cmake --install` lays out, and the Debian package CPack builds from it
# (docs/systemd.md). With the prefix /usr (the default preset's) the layout is:
#
#   /usr/sbin/ampd                          the daemon
#   /usr/bin/ampctl                         its command line client
#   /usr/lib/<multiarch>/libampd-client.so.1[.0.0]  the client library (SONAME .so.1)
#   /usr/lib/<multiarch>/libampd-client.so   the link-time symlink (component dev)
#   /usr/include/ampd/client.h              its header (component dev)
#   /usr/lib/<multiarch>/pkgconfig/ampd-client.pc  (component dev, relocatable)
#   /usr/share/bash-completion/completions/ampctl   ampctl's bash completion
#   <AMPD_CDM_DIR>/clearkey.so              CDM plugins: the only directory they load from
#   /usr/lib/systemd/system/ampd.service    the unit (dist/systemd/ampd.service.in)
#   /etc/ampd/ampd.conf                     the example configuration (a conffile)
#   /usr/share/dbus-1/system.d/org.mpris.MediaPlayer2.ampd.conf
#                                           the D-Bus policy for [mpris] bus = system
#   /usr/share/man/man{1,5,8}/              ampctl(1), ampd.conf(5), ampd(8)
#
# Components: "client" (the library's runtime files), "dev" (its header, .so symlink and
# .pc), the rest unnamed. A staged install of the client alone is
#   DESTDIR=stage cmake --install build --component client (then --component dev)
# (tests/integration/test_client.py). CPack builds one package of all of them (no -dev
# split yet). ampprobe and ampack are developer tools of the build tree and are not
# installed.
include(GNUInstallDirs)

set(AMPD_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Directory of the systemd unit, relative to the install prefix")
set(AMPD_UNIT_EXEC "${CMAKE_INSTALL_FULL_SBINDIR}/ampd")
set(AMPD_UNIT_CONF "${CMAKE_INSTALL_FULL_SYSCONFDIR}/ampd/ampd.conf")
configure_file(${CMAKE_SOURCE_DIR}/dist/systemd/ampd.service.in
               ${CMAKE_BINARY_DIR}/dist/ampd.service @ONLY)

install(TARGETS ampd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS ampctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ampd_client
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client NAMELINK_COMPONENT dev)
install(FILES ${CMAKE_SOURCE_DIR}/include/ampd/client.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ampd COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/dist/ampd-client.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
install(FILES ${CMAKE_SOURCE_DIR}/dist/bash-completion/ampctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
# The plugin goes where the daemon looks (AMPD_CDM_DIR, baked into media/cdmhost and
# core/config), whatever the prefix.
install(TARGETS ampd_cdm_clearkey LIBRARY DESTINATION ${AMPD_CDM_DIR})
install(FILES ${CMAKE_BINARY_DIR}/dist/ampd.service DESTINATION ${AMPD_SYSTEMD_UNIT_DIR})
install(FILES ${CMAKE_SOURCE_DIR}/docs/ampd.conf.example
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/ampd RENAME ampd.conf)
# The bus reads package policies from <datadir>/dbus-1/system.d (/usr/share on Debian).
install(FILES ${CMAKE_SOURCE_DIR}/dist/dbus/org.mpris.MediaPlayer2.ampd.conf
        DESTINATION ${CMAKE_INSTALL_DATADIR}/dbus-1/system.d)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/ampd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/ampd.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/ampctl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# cpack -G DEB (in the build tree of the default preset, prefix /usr).
set(CPACK_PACKAGE_NAME ampd)
set(CPACK_PACKAGE_VENDOR "ampd")
set(CPACK_PACKAGE_CONTACT "ampd maintainers <ampd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Amazon Music player daemon for Linux speakers")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION sound)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libampd-client is in the package: a shlibs file says which package provides its SONAME
# (for programs built against it); dist/debian/triggers runs ldconfig.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The maintainer scripts add the user and group and use deb-systemd-helper.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, init-system-helpers")
configure_file(${CMAKE_SOURCE_DIR}/dist/debian/conffiles.in
               ${CMAKE_BINARY_DIR}/dist/debian/conffiles @ONLY)
foreach(script postinst prerm postrm triggers)
  configure_file(${CMAKE_SOURCE_DIR}/dist/debian/${script}
                 ${CMAKE_BINARY_DIR}/dist/debian/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/dist/debian/conffiles ${CMAKE_BINARY_DIR}/dist/debian/postinst
    ${CMAKE_BINARY_DIR}/dist/debian/prerm ${CMAKE_BINARY_DIR}/dist/debian/postrm
    ${CMAKE_BINARY_DIR}/dist/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
