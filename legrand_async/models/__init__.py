"""Response and request models (frozen attrs classes), one module per API family."""
