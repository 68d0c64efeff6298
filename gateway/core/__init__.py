"""The leaves every stage uses: the error tree, plain data types by area, logs, metrics, times,
secrets at rest and group commit. Imports nothing else of ours."""
