"""The domain: stations, positions, hours, changes and their audit; no request objects."""
