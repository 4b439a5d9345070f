"""Service modules: one file per imitated service, loaded by name.

A module is a file ampmock/modules/<name>.py with:

    NAME = "lwa"                      # optional, for messages
    def add_arguments(parser): ...    # optional: its own command-line options
    def register(app): ...            # required: app.route(...) its routes

and is enabled by adding its name to DEFAULT below (or with --modules a,b on the
command line). Handlers take a router.Request and return a router.Response (or raise
router.HttpError); fault rules, the request log, keep-alive and TLS apply to them
without any work in the module. example.py is the template.

Loaded by default (docs/service.md): lwa (/lwa/...), collector (/collector/...),
license (/license/...), api (/api/... and its CDN, /cdn/...), speke (the SPEKE v2
key provider, /speke/...). Keep each module's routes
under its own prefix.
"""

import importlib

DEFAULT = ("example", "collector", "lwa", "license", "api", "speke")


def load(names):
    """Import the modules named in `names` (an iterable of str); ImportError if one is missing."""
    mods = []
    for name in names:
        if not name.isidentifier():
            raise ImportError("bad module name %r" % name)
        mods.append(importlib.import_module("%s.%s" % (__name__, name)))
    return mods
