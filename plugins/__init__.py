"""finsql's built-in method plugins (the ``finsql_plugins`` package), one sub-package per method."""
