"""The Amazon States Language definitions and the one function that fills their placeholders."""
