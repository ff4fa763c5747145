"""Reference split lists of CAT-Net, MVSS-Net and TruFor, kept verbatim as package data."""
