"""Files of other tools that attviz reads and writes: the original AttViz tool's JSON."""
