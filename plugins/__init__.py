"""finsql's built-in plugins (the ``finsql_plugins`` package): one flat module per plugin, always loaded.

``finsql.plugins.DEFAULT_PLUGINS`` lists them; third-party plugins come through entry points instead.
"""
