"""The model store: the registry (models.toml), where files come from, what is installed, bundles."""
