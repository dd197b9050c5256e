"""One module per explorer tab: a pure handler (testable without a browser) and a build()."""
