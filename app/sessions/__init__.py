"""Sessions: one network each (config, weights, cursor, trace, history), and their stores."""
