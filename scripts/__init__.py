"""Provisioning: interpreters, lock files, environments. Called by tasks.py; never imports TensorFlow."""
