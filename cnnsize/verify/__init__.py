"""The real thing: specs built as torch.nn modules and run. Importing this package imports torch."""
